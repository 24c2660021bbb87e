#!/usr/bin/env python3
"""Which b-trees a gateway's commits write: pages per commit in SQLite's write-ahead log.

Usage: wal_pages.py COPY-OF-WAL COPY-OF-DB

Copy the database and its -wal file while the gateway is paused (kill -STOP PID; cp; kill
-CONT PID) right after a short load, and a copy of the -wal alone to read. The frames of the
log's current generation (same salts as its header) are counted per commit and attributed to
the table or index owning each page (SQLite's dbstat table). Every page a commit touches is
written whole (4 KiB) to the log and fsync'd, so this is where a Send's commit cost goes:
see the README, "Benchmarks".
"""
import collections
import sqlite3
import struct
import sys


def main(wal, db):
    data = open(wal, "rb").read()
    _, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">8I", data[:32])
    frames, commits, off = [], 0, 32
    while off + 24 + page_size <= len(data):
        page, commit, s1, s2, _, _ = struct.unpack(">6I", data[off:off + 24])
        if (s1, s2) != (salt1, salt2):
            break
        frames.append(page)
        commits += commit != 0
        off += 24 + page_size
    owner = dict(
        (pageno, name)
        for name, pageno in sqlite3.connect(db).execute("SELECT name, pageno FROM dbstat")
    )
    per = collections.Counter(owner.get(p, "?") for p in frames)
    commits = max(commits, 1)
    print(f"frames {len(frames)}  commits {commits}  pages per commit {len(frames) / commits:.1f}")
    for name, n in per.most_common():
        print(f"{n / commits:7.1f}  {name}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
