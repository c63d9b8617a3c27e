"""The vocabulary of the incident timeline, shared by who writes it and who reads it (pure).

The centre (`cad`) records the events, `dispatch` decides which one a unit's move records,
`reports` measures intervals between them: each may import this package, and it imports
nothing of ours, so none of those rules (reports' arithmetic and dispatch never import `cad`)
has to bend for one enumeration.
"""
