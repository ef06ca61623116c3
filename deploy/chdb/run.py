"""Runs SQL steps in one chdb session (ClickHouse 26.9 in-process).

    python run.py [DIR] < steps

stdin holds JSON values, one after another: a step, or a list of steps.
A step is {"name": ..., "sql": ..., "params": {...}, "format": ...};
params fill {name:Type} placeholders, format defaults to
JSONCompactEachRowWithNamesAndTypes. For each step one JSON line is
printed and flushed at once, so a caller may also send a step, read its
line and send the next: {"name", "ok", "error", "ms", and "rows" (each
line of a JSON...EachRow... answer, decoded) or "data" (any other answer
as text)}. The session lives in DIR, or in a temporary directory removed
at the end.
"""
import json
import shutil
import sys
import tempfile
import time

from chdb import session

DEFAULT_FORMAT = "JSONCompactEachRowWithNamesAndTypes"


def run(s, step):
    """Runs one step and returns its result line as a dict."""
    fmt = step.get("format") or DEFAULT_FORMAT
    out = {"name": step.get("name", ""), "ok": True, "error": None}
    t0 = time.monotonic()
    try:
        res = s.query(step["sql"], fmt, params=step.get("params") or None)
        text = res.data() if res is not None else ""
        if fmt.startswith("JSON") and "EachRow" in fmt:
            out["rows"] = [json.loads(l) for l in text.splitlines() if l.strip()]
        else:
            out["data"] = text
    except Exception as e:  # chdb raises its own error types; report them all
        out["ok"], out["error"] = False, str(e).strip()
    out["ms"] = round((time.monotonic() - t0) * 1000, 1)
    return out


def steps(stream):
    """Yields the steps of the JSON values on stream as they complete."""
    dec, buf = json.JSONDecoder(), ""
    for line in stream:
        buf += line
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                val, end = dec.raw_decode(buf)
            except json.JSONDecodeError:
                break  # incomplete: read more
            buf = buf[end:]
            yield from (val if isinstance(val, list) else [val])
    if buf.strip():
        raise SystemExit("run.py: trailing input is not JSON: " + buf[:80])


def main():
    own = len(sys.argv) < 2
    path = tempfile.mkdtemp(prefix="gatewatch-chdb-") if own else sys.argv[1]
    s = session.Session(path)
    try:
        for step in steps(sys.stdin):
            print(json.dumps(run(s, step)), flush=True)
    finally:
        s.close()
        if own:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
