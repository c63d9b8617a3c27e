"""Work kept off a gevent worker's loop: the streams keep flowing while a PDF is made."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from cad.blocking import off_the_loop, patched_by_gevent


def test_without_gevent_it_simply_calls() -> None:
    assert not patched_by_gevent()
    assert off_the_loop(sorted, [3, 1, 2], reverse=True) == [3, 2, 1]


def test_under_gevent_other_greenlets_run_while_the_work_holds_the_cpu() -> None:
    program = textwrap.dedent(
        """
        from gevent import monkey
        monkey.patch_all()
        import time, gevent
        from cad.blocking import off_the_loop, patched_by_gevent

        def busy(seconds):  # pure Python, holds the interpreter as WeasyPrint does
            end = time.perf_counter() + seconds
            n = 0
            while time.perf_counter() < end:
                n += 1
            return n

        ticks = []
        def stream():
            while True:
                ticks.append(time.perf_counter())
                gevent.sleep(0.02)

        beat = gevent.spawn(stream)
        gevent.sleep(0.05)
        before = len(ticks)
        inline = busy(0.6)  # on the loop: the stream stops
        during_inline = len(ticks) - before
        before = len(ticks)
        done = off_the_loop(busy, 0.6)
        during_off = len(ticks) - before
        beat.kill()
        print(patched_by_gevent(), inline > 0 and done > 0, during_inline, during_off)
        """
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    patched, worked, during_inline, during_off = out.stdout.split()
    assert patched == "True" and worked == "True"
    assert int(during_inline) <= 1  # the loop was held
    assert int(during_off) >= 5  # 0.6 s at a 20 ms beat: the stream kept beating (30 when idle)
