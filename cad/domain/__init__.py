"""Pure domain code of the incident spine: plain values in, plain values out."""
