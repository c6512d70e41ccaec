"""The Landlock rules of ls, sqlite3 and redis-server per phase, for docs/results.md.

Usage: python3 tools/landlock_results.py

In a temporary folder it records each program with ``sysphase record
--paths`` (two phases: start-up, then from the trigger ``sysphase phases``
proposes for it), makes ``sysphase policy --landlock`` and prints, per
phase, the directories and files it may use with their rights, and its TCP
ports, as Markdown. The layouts: ``ls -la /etc``; ``sqlite3 DB`` reading a
script on stdin (create, insert, select, a transaction, vacuum) on a
database in the folder; ``redis-server CONF`` (port, data directory in the
folder) driven with SET, SAVE, BGSAVE and SHUTDOWN. The folder's random
name is shown as ``$TMP``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sysphase.workloads import redis_driver, resp

SQL = """CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
BEGIN; INSERT INTO t(b) VALUES ('x'), ('y'); COMMIT;
SELECT count(*) FROM t; CREATE INDEX i ON t(b); VACUUM;
"""


def sysphase(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysphase", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def _redis(port: int, *cmd: str) -> str:
    """One command on a connection of its own; the reply as text ("" once closed)."""
    try:
        conn = resp.Connection(port, 10.0)
    except OSError:
        return ""
    try:
        return str(conn.call(list(cmd)))
    except (OSError, resp.Closed):
        return ""
    finally:
        conn.close()


def _record_redis(folder: Path, profile: Path) -> None:
    data = folder / "redis"
    data.mkdir()
    port = redis_driver.free_port()
    conf = folder / "redis.conf"
    conf.write_text(f'port {port}\nbind 127.0.0.1\ndir {data}\nsave ""\nlogfile ""\n')
    argv = [sys.executable, "-m", "sysphase", "record", "--paths", "--phase",
            "serve=syscall:epoll_wait", "-o", str(profile),
            "--", "redis-server", str(conf)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        if _redis(port, "PING") == "PONG":
            break
        time.sleep(0.1)
    _redis(port, "SET", "k", "v")
    _redis(port, "SAVE")
    _redis(port, "BGSAVE")
    while "rdb_bgsave_in_progress:0" not in _redis(port, "INFO", "persistence"):
        time.sleep(0.1)
    _redis(port, "SHUTDOWN", "NOSAVE")  # the server closes the connection as it goes
    if proc.wait(timeout=60) != 0:
        sys.exit("record of redis-server failed")


def _record(name: str, folder: Path, profile: Path) -> None:
    if name == "redis-server":
        _record_redis(folder, profile)
        return
    if name == "ls":
        rec = sysphase("record", "--paths", "--phase", "serve=syscall:getdents64", "-o",
                       str(profile), "--", "ls", "-la", "/etc")  # fmt: skip
    else:
        db = str(folder / "db.sqlite")
        rec = sysphase("record", "--paths", "--phase", "serve=syscall:lseek", "-o",
                       str(profile), "--", "sqlite3", db, stdin=SQL)  # fmt: skip
    if rec.returncode != 0:
        sys.exit(f"record of {name} failed: {rec.stderr.strip()}")


def _table(program: dict[str, Any], folder: Path) -> list[str]:
    lines = ["| phase | path | rights | how |", "|---|---|---|---|"]
    ports = []
    for phase in program["phases"]:
        section = phase.get("landlock") or {}
        for rule in section.get("rules", []):
            path = rule["path"].replace(str(folder), "$TMP")
            how = ", ".join(rule.get("how", []))
            lines.append(f"| {phase['name']} | `{path}` | {', '.join(rule['rights'])} | {how} |")
        bind, connect = section.get("bind_tcp", []), section.get("connect_tcp", [])
        ports.append(
            f"- {phase['name']}: bind {', '.join(map(str, bind)) or 'none'}; connect "
            f"{', '.join(map(str, connect)) or 'none'}; scoped "
            f"{', '.join(section.get('scoped', [])) or 'nothing'}"
        )
    return [*lines, "", "TCP ports and scopes:", "", *ports]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sysphase-landlock-") as tmp:
        folder = Path(tmp)
        for name in ("ls", "sqlite3", "redis-server"):
            profile, policy = folder / f"{name}.json", folder / f"{name}.policy"
            _record(name, folder, profile)
            made = sysphase("policy", "--landlock", "-o", str(policy), str(profile))
            if made.returncode != 0:
                sys.exit(f"policy --landlock of {name} failed: {made.stderr.strip()}")
            for program in json.loads(policy.read_text())["programs"]:
                print(f"### {name}: `{program['executable']}`\n")
                print("\n".join(_table(program, folder)) + "\n")


if __name__ == "__main__":
    main()
