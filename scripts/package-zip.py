#!/usr/bin/env python3
"""Writes and checks the deployment zips of entra-sso (Python standard library only).

  package-zip.py write DIR ZIP [--exclude NAME]...
      Zips the tree DIR into ZIP, paths relative to DIR, with Unix mode bits in external_attr
      (so `bootstrap` and `entra-sso` keep their run bit when the platform unpacks the zip).
      --exclude leaves out a file of that name at the top of DIR.

  package-zip.py check lambda|azure ZIP [--max-glibc X.Y]
      Checks the layout the platform expects and prints it:
        lambda: exactly one entry, `bootstrap`, mode 0755, a Linux x86-64 executable built with
                the `lambda` feature and without the dev identity provider;
        azure:  host.json at the root, its defaultExecutablePath beside it (mode 0755, Linux
                x86-64, no dev identity provider), one or more <function>/function.json, and no
                local settings.
      Reports the newest glibc symbol version the executable needs and warns when it is newer
      than --max-glibc (defaults: 2.34 for lambda, Amazon Linux 2023; 2.31 for azure, Debian 11).
      Exits 1 on any layout error.

  package-zip.py elf BINARY
      Prints what the executable is and the glibc it needs.
"""

import json
import os
import stat
import struct
import sys
import zipfile

# Written by `entra-sso dev-idp` (src/main.rs), compiled only with the `dev-idp` feature.
DEV_IDP_MARKER = b"FOR DEVELOPMENT ONLY"
# Read by the binary to enter Lambda mode (src/main.rs, feature `lambda`) and by lambda_runtime.
LAMBDA_MARKER = b"AWS_LAMBDA_RUNTIME_API"

GLIBC_OF = "Amazon Linux 2 has 2.26, Amazon Linux 2023 (provided.al2023) 2.34, Debian 11 2.31, Debian 12 2.36"
DEFAULT_MAX_GLIBC = {"lambda": "2.34", "azure": "2.31"}

SHT_GNU_VERNEED = 0x6FFFFFFE
PT_INTERP = 3


def version_key(v):
    return tuple(int(p) for p in v.split("."))


def elf_info(data):
    """(is Linux x86-64 ELF, description, newest GLIBC_x.y needed or None, dynamic?)"""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return False, "not an ELF executable", None, False
    if data[4] != 2 or data[5] != 1:
        return False, "not a 64-bit little-endian ELF", None, False
    machine = struct.unpack_from("<H", data, 18)[0]
    if machine != 62:
        return False, f"ELF for machine {machine}, not x86-64 (62)", None, False
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 32)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 54)

    dynamic = False
    if e_phoff and e_phentsize >= 56:
        for i in range(e_phnum):
            off = e_phoff + i * e_phentsize
            if off + 4 <= len(data) and struct.unpack_from("<I", data, off)[0] == PT_INTERP:
                dynamic = True

    glibc = []
    if e_shoff and e_shentsize >= 64 and e_shoff + e_shnum * e_shentsize <= len(data):
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
        for (_name, sh_type, _f, _a, sh_offset, _size, sh_link, sh_info, _al, _es) in sections:
            if sh_type != SHT_GNU_VERNEED or sh_link >= len(sections):
                continue
            strtab = sections[sh_link][4]

            def cstr(off):
                end = data.index(b"\0", strtab + off)
                return data[strtab + off:end].decode("ascii", "replace")

            need = sh_offset
            for _ in range(sh_info):  # Elf64_Verneed entries
                _ver, cnt, _file, aux, nxt = struct.unpack_from("<HHIII", data, need)
                a = need + aux
                for _ in range(cnt):  # Elf64_Vernaux entries
                    _hash, _flags, _other, name, anext = struct.unpack_from("<IHHII", data, a)
                    v = cstr(name)
                    if v.startswith("GLIBC_") and v[6:].replace(".", "").isdigit():
                        glibc.append(v[6:])
                    if not anext:
                        break
                    a += anext
                if not nxt:
                    break
                need += nxt
    newest = max(glibc, key=version_key) if glibc else None
    kind = "dynamically linked" if dynamic else "statically linked"
    return True, f"Linux x86-64 ELF, {kind}", newest, dynamic


def write(args):
    if len(args) < 2:
        sys.exit("usage: package-zip.py write DIR ZIP [--exclude NAME]...")
    src, out, rest = args[0], args[1], args[2:]
    exclude = set()
    while rest:
        if rest[0] != "--exclude" or len(rest) < 2:
            sys.exit(f"package-zip.py write: unknown argument {rest[0]}")
        exclude.add(rest[1])
        rest = rest[2:]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            for name in sorted(filenames):
                if dirpath == src and name in exclude:
                    continue
                path = os.path.join(dirpath, name)
                info = zipfile.ZipInfo.from_file(path, os.path.relpath(path, src))
                info.create_system = 3  # Unix: unzip tools read the mode bits below
                info.external_attr = (stat.S_IFREG | stat.S_IMODE(os.stat(path).st_mode)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as f:
                    z.writestr(info, f.read())


def mode_of(info):
    return (info.external_attr >> 16) & 0o7777 if info.create_system == 3 else None


def check_executable(z, name, errors, warnings, max_glibc, need_lambda):
    info = z.getinfo(name)
    mode = mode_of(info)
    if mode != 0o755:
        shown = "no Unix mode" if mode is None else oct(mode)
        errors.append(f"{name}: mode {shown}, expected 0755 (the platform would not run it)")
    data = z.read(name)
    ok, what, glibc, dynamic = elf_info(data)
    if not ok:
        errors.append(f"{name}: {what}; the platform runs Linux x86-64 executables only")
        return what
    if DEV_IDP_MARKER in data:
        errors.append(f"{name}: contains the dev identity provider (built with the `dev-idp` feature)")
    if need_lambda and LAMBDA_MARKER not in data:
        errors.append(f"{name}: built without the `lambda` feature; it would not answer the Lambda runtime")
    if dynamic and glibc:
        what += f", needs glibc >= {glibc}"
        if version_key(glibc) > version_key(max_glibc):
            warnings.append(
                f"{name} needs glibc {glibc}, newer than {max_glibc}: it will not start on an image with an "
                f"older glibc ({GLIBC_OF}). Build with scripts/build-release.sh --target gnu-2.17."
            )
    return what


def check(args):
    if len(args) < 2 or args[0] not in ("lambda", "azure"):
        sys.exit("usage: package-zip.py check lambda|azure ZIP [--max-glibc X.Y]")
    kind, path, rest = args[0], args[1], args[2:]
    max_glibc = DEFAULT_MAX_GLIBC[kind]
    if rest[:1] == ["--max-glibc"] and len(rest) == 2:
        max_glibc = rest[1]
    elif rest:
        sys.exit(f"package-zip.py check: unknown argument {rest[0]}")

    errors, warnings = [], []
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad:
            errors.append(f"{bad}: CRC error")
        infos = z.infolist()
        names = [i.filename for i in infos]
        lines = {}
        for n in names:
            if n.startswith("/") or ".." in n.split("/") or "\\" in n:
                errors.append(f"{n}: not a plain relative path")
        if kind == "lambda":
            if "bootstrap" not in names:
                errors.append("no `bootstrap` at the root (the provided.al2023 runtime starts exactly that file)")
            else:
                lines["bootstrap"] = check_executable(z, "bootstrap", errors, warnings, max_glibc, True)
            for n in names:
                if n != "bootstrap":
                    errors.append(f"{n}: unexpected entry (the package holds `bootstrap` only)")
        else:
            if "host.json" not in names:
                errors.append("no host.json at the root")
                exe = None
            else:
                host = json.loads(z.read("host.json"))
                exe = host.get("customHandler", {}).get("description", {}).get("defaultExecutablePath")
                if not exe:
                    errors.append("host.json: no customHandler.description.defaultExecutablePath")
                elif exe not in names:
                    errors.append(f"{exe}: named in host.json but not at the zip root")
                else:
                    lines[exe] = check_executable(z, exe, errors, warnings, max_glibc, False)
            functions = sorted(n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith("/function.json"))
            if not functions:
                errors.append("no <function>/function.json")
            for f in functions:
                try:
                    bindings = json.loads(z.read(f"{f}/function.json"))["bindings"]
                    if not any(b.get("type") == "httpTrigger" for b in bindings):
                        errors.append(f"{f}/function.json: no httpTrigger")
                except (KeyError, ValueError) as e:
                    errors.append(f"{f}/function.json: {e}")
            for n in names:
                base = n.split("/")[-1]
                if base in ("local.settings.json", ".funcignore"):
                    errors.append(f"{n}: local-only file in the deployment zip")
                elif n not in ("host.json", exe) and not (n.count("/") == 1 and n.endswith("/function.json")):
                    warnings.append(f"{n}: unexpected entry")

        print(f"{path}:")
        for i in infos:
            mode = mode_of(i)
            shown = oct(mode)[2:].rjust(4, "0") if mode is not None else "----"
            extra = f"  {lines[i.filename]}" if i.filename in lines else ""
            print(f"  {shown}  {i.file_size:>10}  {i.filename}{extra}")

    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)


def elf(args):
    if len(args) != 1:
        sys.exit("usage: package-zip.py elf BINARY")
    with open(args[0], "rb") as f:
        data = f.read()
    ok, what, glibc, dynamic = elf_info(data)
    if ok and dynamic:
        what += f", needs glibc >= {glibc}" if glibc else ", no glibc symbol versions"
    if ok and DEV_IDP_MARKER in data:
        what += ", WITH the dev identity provider"
    if ok and LAMBDA_MARKER in data:
        what += ", with the Lambda runtime"
    print(f"{args[0]}: {what}")
    sys.exit(0 if ok else 1)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("write", "check", "elf"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    {"write": write, "check": check, "elf": elf}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
