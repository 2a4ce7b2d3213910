"""The Python (ctypes) and C# (P/Invoke) mirrors of tether.h agree with it.

Parses bindings/c/include/tether/tether.h for its enums and structs and
checks, name for name and in order, the mirrors that the bindings write by
hand: the struct layouts (field names, sizes, signedness, pointer or not) and
the enum values. A field or a value added on one side only fails here.

Usage: check_mirrors.py REPO_ROOT   (exit status 1 and a list on mismatch)
"""

import ctypes
import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
problems = []


def problem(msg):
    problems.append(msg)


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


# ---- tether.h ----------------------------------------------------------------

header = strip_c_comments((ROOT / "bindings/c/include/tether/tether.h").read_text())

C_INTS = {
    "size_t": (8, False), "int32_t": (4, True), "uint32_t": (4, False),
    "int64_t": (8, True), "uint64_t": (8, False), "int": (4, True), "unsigned": (4, False),
}


def c_enums():
    out = {}
    for name, body in re.findall(r"typedef\s+enum\s+(\w+)\s*\{(.*?)\}\s*\1\s*;", header, flags=re.S):
        values = []
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            key, value = (part.strip() for part in item.split("="))
            values.append((key, int(value)))
        out[name] = values
    return out


def c_kind(ctype):
    """('ptr',) for pointers and callbacks, ('int', size, signed) for integers."""
    if "*" in ctype or ctype.endswith("_fn"):
        return ("ptr",)
    ctype = ctype.replace("const", "").strip()
    if ctype not in C_INTS:
        raise SystemExit("check_mirrors: tether.h uses a field type this check does not know: %r" % ctype)
    return ("int",) + C_INTS[ctype]


def c_structs():
    out = {}
    for name, body in re.findall(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\1\s*;", header, flags=re.S):
        fields = []
        for decl in body.split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            # "uint64_t a, b, c" or "const char *const *headers"
            first, *rest = decl.split(",")
            m = re.match(r"(.*?)(\w+)$", first.strip())
            base, first_name = m.group(1).strip(), m.group(2)
            base_type = base.rstrip("* ").strip() if rest else base
            fields.append((first_name, c_kind(base)))
            for extra in rest:
                fields.append((extra.strip().lstrip("*").strip(), c_kind(base_type + ("*" if "*" in extra else ""))))
        out[name] = fields
    return out


ENUMS = c_enums()
STRUCTS = c_structs()


def enum_values(c_name, prefix, skip=()):
    """{suffix: value} of a C enum, e.g. tether_state -> {'IDLE': 0, ...}."""
    return {k[len(prefix):]: v for k, v in ENUMS[c_name] if k not in skip}


def compare_fields(what, expected, got):
    names_e = [n for n, _ in expected]
    names_g = [n for n, _ in got]
    if names_e != names_g:
        only_c = [n for n in names_e if n not in names_g]
        only_m = [n for n in names_g if n not in names_e]
        if only_c or only_m:
            problem("%s: fields differ from tether.h (only in tether.h: %s; only in the mirror: %s)" % (what, only_c, only_m))
        else:
            problem("%s: the fields of tether.h in another order: %s" % (what, names_g))
        return
    for (name, ek), (_, gk) in zip(expected, got):
        if ek != gk:
            problem("%s.%s: tether.h has %s, the mirror %s" % (what, name, ek, gk))


def compare_enum(what, expected, got):
    if expected != got:
        only_c = sorted(set(expected.items()) - set(got.items()))
        only_m = sorted(set(got.items()) - set(expected.items()))
        problem("%s: values differ from tether.h (only in tether.h: %s; only in the mirror: %s)" % (what, only_c, only_m))


# ---- Python -------------------------------------------------------------------

sys.path.insert(0, str(ROOT / "bindings/python"))
sys.dont_write_bytecode = True
from tether import _native, client as py_client, errors as py_errors, events as py_events  # noqa: E402


def py_kind(t):
    if t in (ctypes.c_char_p, ctypes.c_void_p) or issubclass(t, (ctypes._Pointer, ctypes._CFuncPtr)):
        return ("ptr",)
    return ("int", ctypes.sizeof(t), t(-1).value < 0)


for c_name, py_struct in (("tether_client_options", _native.ClientOptions), ("tether_event", _native.Event),
                          ("tether_stats", _native.Stats)):
    compare_fields("python %s" % py_struct.__name__, STRUCTS[c_name], [(n, py_kind(t)) for n, t in py_struct._fields_])

compare_enum("python State", enum_values("tether_state", "TETHER_STATE_"), {s.name: s.value for s in py_events.State})
compare_enum("python _EVENT_*", enum_values("tether_event_type", "TETHER_EVENT_", skip=("TETHER_EVENT_NONE",)),
             {k[len("_EVENT_"):]: v for k, v in vars(py_client).items() if k.startswith("_EVENT_")})
compare_enum("python _POLICIES", enum_values("tether_session_lost_policy", "TETHER_SESSION_LOST_"),
             {k.upper(): v for k, v in py_client._POLICIES.items()})
compare_enum("python _DURABILITY", enum_values("tether_durability", "TETHER_DURABILITY_"),
             {k.upper(): v for k, v in py_client._DURABILITY.items()})
compare_enum("python _LOG_LEVELS", enum_values("tether_log_level", "TETHER_LOG_", skip=("TETHER_LOG_DEFAULT",)),
             {k.upper(): v for k, v in py_client._LOG_LEVELS.items() if k != "warning"})
compare_enum("python errors.BY_CODE", {k.lower(): v for k, v in enum_values("tether_error", "TETHER_E_", skip=("TETHER_OK",)).items()},
             {cls.name: code for code, cls in py_errors.BY_CODE.items()})

# ---- C# -----------------------------------------------------------------------

CS_TYPES = {
    "UIntPtr": ("int", 8, False), "IntPtr": ("ptr",), "long": ("int", 8, True), "ulong": ("int", 8, False),
    "int": ("int", 4, True), "uint": ("int", 4, False),
}
cs_src = ROOT / "bindings/csharp/src"
native_cs = strip_c_comments((cs_src / "Native.cs").read_text())


def cs_struct(name):
    m = re.search(r"struct\s+%s\s*\{(.*?)\}" % name, native_cs, flags=re.S)
    if not m:
        problem("C#: struct %s not found in Native.cs" % name)
        return []
    fields = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        mm = re.match(r"public\s+(\w+)\s+(.*)$", decl)
        if not mm:
            problem("C# %s: cannot read the declaration %r" % (name, decl))
            continue
        kind = CS_TYPES.get(mm.group(1))
        if kind is None:
            problem("C# %s: unknown field type %s" % (name, mm.group(1)))
            continue
        fields.extend((n.strip(), kind) for n in mm.group(2).split(","))
    return fields


def cs_enum(path, name):
    text = strip_c_comments((cs_src / path).read_text())
    m = re.search(r"enum\s+%s\s*\{(.*?)\}" % name, text, flags=re.S)
    if not m:
        problem("C#: enum %s not found in %s" % (name, path))
        return {}
    out = {}
    for item in m.group(1).split(","):
        if item.strip():
            key, value = (p.strip() for p in item.split("="))
            out[key] = int(value)
    return out


def pascal(suffix):
    return "".join(part.capitalize() for part in suffix.lower().split("_"))


for c_name, cs_name in (("tether_client_options", "NativeOptions"), ("tether_event", "NativeEvent"),
                        ("tether_stats", "NativeStats")):
    compare_fields("C# %s" % cs_name, STRUCTS[c_name], cs_struct(cs_name))


def pascal_enum(c_name, prefix, skip=()):
    return {pascal(k): v for k, v in enum_values(c_name, prefix, skip).items()}


compare_enum("C# State", pascal_enum("tether_state", "TETHER_STATE_"), cs_enum("Events.cs", "State"))
compare_enum("C# SessionLostPolicy", pascal_enum("tether_session_lost_policy", "TETHER_SESSION_LOST_"),
             cs_enum("Events.cs", "SessionLostPolicy"))
compare_enum("C# Durability", pascal_enum("tether_durability", "TETHER_DURABILITY_"),
             cs_enum("Events.cs", "Durability"))
compare_enum("C# LogLevel", pascal_enum("tether_log_level", "TETHER_LOG_", skip=("TETHER_LOG_DEFAULT",)),
             cs_enum("Events.cs", "LogLevel"))
errors_c = pascal_enum("tether_error", "TETHER_E_", skip=("TETHER_OK",))
errors_c["Ok"] = 0
compare_enum("C# ErrorCode", errors_c, cs_enum("Errors.cs", "ErrorCode"))
# The event switch in TetherClient.cs names each type by its value.
cs_cases = re.findall(r"case\s+(\d+)\s*:", (cs_src / "TetherClient.cs").read_text())
compare_enum("C# event types (the switch in TetherClient.cs)",
             {v: v for k, v in ENUMS["tether_event_type"] if k != "TETHER_EVENT_NONE"}, {int(v): int(v) for v in cs_cases})

if problems:
    print("the bindings' mirrors of tether.h disagree with it:")
    for p in problems:
        print("  - " + p)
    sys.exit(1)
print("tether.h mirrors agree: %d structs, %d enums checked in Python and C#" % (len(STRUCTS), len(ENUMS)))
