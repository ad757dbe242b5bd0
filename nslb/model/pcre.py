"""Regular expressions checked by the engine HAProxy uses (PCRE2), not by Python's `re`.

An L7 rule's REGEX value becomes an HAProxy `-m reg` pattern. Octavia checks it with
Python's `re.compile`, which accepts patterns PCRE2 refuses (`\\u0041`, `(?a)`, `\\N{...}`):
such a rule would pass the API and then make every reload of the load balancer fail. So the
pattern is compiled here with libpcre2-8, the library Debian's haproxy is built with
(`haproxy -vv`: USE_PCRE2=1), through ctypes. Where the library is missing, Python's `re`
is the fallback and haproxy's own check before every reload stays the last line.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re

ERROR_BUFFER = 256


@functools.cache
def _library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("pcre2-8") or "libpcre2-8.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.pcre2_compile_8.restype = ctypes.c_void_p
    lib.pcre2_compile_8.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                    ctypes.POINTER(ctypes.c_int),
                                    ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
    lib.pcre2_code_free_8.argtypes = [ctypes.c_void_p]
    lib.pcre2_get_error_message_8.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    return lib


def problem(pattern: str) -> str | None:
    """Why PCRE2 refuses `pattern` (its own message and offset), or None when it compiles."""
    lib = _library()
    if lib is None:
        try:
            re.compile(pattern)
        except re.error as exc:
            return str(exc)
        return None
    data = pattern.encode()
    code, offset = ctypes.c_int(0), ctypes.c_size_t(0)
    compiled = lib.pcre2_compile_8(data, len(data), 0, ctypes.byref(code), ctypes.byref(offset),
                                   None)
    if compiled:
        lib.pcre2_code_free_8(compiled)
        return None
    buffer = ctypes.create_string_buffer(ERROR_BUFFER)
    lib.pcre2_get_error_message_8(code, buffer, ERROR_BUFFER)
    return f"{buffer.value.decode(errors='replace')} at offset {offset.value}"


def available() -> bool:
    return _library() is not None
