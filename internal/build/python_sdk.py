"""Copies boto3 and the distributions it needs into a folder.

xflow's local mode runs Python handlers without the developer's
site-packages, with boto3 beside them as Lambda's Python runtime provides
it. This script runs under a Python of the machine that has boto3 and
copies the installed files of boto3 and of every distribution it requires
(botocore, s3transfer, jmespath, python-dateutil, six, urllib3), all pure
Python, into the folder given as its argument. Standard library only.
"""

import importlib.metadata as md
import os
import re
import shutil
import sys


def main(dest):
    todo, seen = ["boto3"], set()
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional requirement this machine lacks
        for f in dist.files or []:
            rel = str(f)
            parts = rel.replace("\\", "/").split("/")
            # Console scripts live outside site-packages; bytecode is
            # this machine's.
            if rel.startswith("..") or os.path.isabs(rel) or "__pycache__" in parts or rel.endswith(".pyc"):
                continue
            src = f.locate()
            if not os.path.isfile(src):
                continue
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(src, out)
        for req in dist.requires or []:
            spec, _, marker = req.partition(";")
            if "extra" in marker:
                continue
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
            if m:
                todo.append(m.group(1))
    print(md.version("boto3"))


if __name__ == "__main__":
    main(sys.argv[1])
