"""A PEP 517 build backend of a few lines: it packs the folder of the same
name as the project into a pure-Python wheel. pip runs it from this folder
(pyproject.toml's backend-path), so building the example needs no package
index, not even for setuptools. Standard library only.
"""

import base64
import hashlib
import os
import re
import zipfile

NAME, VERSION = "wordcount-common", "1.0.0"  # as in pyproject.toml
_DATE = (1980, 1, 1, 0, 0, 0)  # the same bytes on every build


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = re.sub(r"[-.]+", "_", NAME)
    name = f"{dist}-{VERSION}-py3-none-any.whl"
    info = f"{dist}-{VERSION}.dist-info"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:

        def add(path, data):
            wheel.writestr(zipfile.ZipInfo(path, _DATE), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")

        for root, dirs, files in os.walk(dist):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for f in sorted(files):
                with open(os.path.join(root, f), "rb") as src:
                    add(os.path.join(root, f).replace(os.sep, "/"), src.read())
        add(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode())
        add(f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: build_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(zipfile.ZipInfo(f"{info}/RECORD", _DATE), "\n".join(record) + "\n")
    return name
