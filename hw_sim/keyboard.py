"""Keyboards as a Linux host really has them: libxkbcommon (Debian libxkbcommon0), the library X servers and
Wayland compositors use, compiling a layout from the XKB database (xkb-data, /usr/share/X11/xkb) and composing
dead keys from the X locale's Compose file (libx11-data, /usr/share/X11/locale/en_US.UTF-8/Compose).

This is the simulator's own reading of the layouts: it shares nothing with scripts/gen-keymaps or
turnkey/keymaps.py (which parse the same files themselves), so a mistake in either shows up as a difference.

``Keyboard(layout, variant)`` answers "which keys type this character" and "what does this key type with or
without Shift", and types key strokes through a dead-key ``composer``:

- ``compose``: libxkbcommon's compose state machine; a key that cancels a dead-key sequence is dropped with it
  (what xkbcommon documents applications usually do; GTK and Qt do so),
- ``spacing``: an unusable dead key is typed as its spacing accent, followed by the next key (Windows' habit),
- ``drop``: the dead key alone is lost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

KEY_LEFTSHIFT = 42  # linux/input-event-codes.h; XKB evdev keycodes are the kernel's plus 8
EVDEV_OFFSET = 8
KEY_RANGE = range(1, 128)
# A wedge scanner types on the main keys (linux/input-event-codes.h: KEY_1..KEY_EQUAL, KEY_Q..KEY_RIGHTBRACE,
# KEY_A..KEY_GRAVE, KEY_BACKSLASH..KEY_SLASH, KEY_SPACE, KEY_102ND, KEY_RO, KEY_YEN), never on the keypad.
MAIN_KEYS = frozenset({*range(2, 14), *range(16, 28), *range(30, 42), *range(43, 54), 57, 86, 89, 124})
_COMPOSING, _COMPOSED, _CANCELLED = 1, 2, 3  # enum xkb_compose_status (xkbcommon-compose.h)
# The spacing accent of each dead keysym (X11 keysymdef.h names the pairs: dead_grave ~ grave ...).
SPACING = {"dead_grave": "`", "dead_acute": "´", "dead_circumflex": "^", "dead_tilde": "~",
           "dead_diaeresis": "¨", "dead_cedilla": "¸", "dead_abovering": "°", "dead_macron": "¯"}


class KeyboardUnavailable(RuntimeError):
    """libxkbcommon, or the XKB database, is not installed."""


class _RuleNames(ctypes.Structure):
    _fields_ = [(name, ctypes.c_char_p) for name in ("rules", "model", "layout", "variant", "options")]


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("xkbcommon")
    if name is None:
        raise KeyboardUnavailable("libxkbcommon is not installed (Debian: libxkbcommon0)")
    lib = ctypes.CDLL(name)
    pointer, u32 = ctypes.c_void_p, ctypes.c_uint32
    for function, result, arguments in (
        ("xkb_context_new", pointer, [ctypes.c_int]),
        ("xkb_keymap_new_from_names", pointer, [pointer, ctypes.POINTER(_RuleNames), ctypes.c_int]),
        ("xkb_state_new", pointer, [pointer]),
        ("xkb_state_update_key", ctypes.c_int, [pointer, u32, ctypes.c_int]),
        ("xkb_state_key_get_one_sym", u32, [pointer, u32]),
        ("xkb_keysym_to_utf32", u32, [u32]),
        ("xkb_keysym_get_name", ctypes.c_int, [u32, ctypes.c_char_p, ctypes.c_size_t]),
        ("xkb_compose_table_new_from_locale", pointer, [pointer, ctypes.c_char_p, ctypes.c_int]),
        ("xkb_compose_state_new", pointer, [pointer, ctypes.c_int]),
        ("xkb_compose_state_feed", ctypes.c_int, [pointer, u32]),
        ("xkb_compose_state_get_status", ctypes.c_int, [pointer]),
        ("xkb_compose_state_get_utf8", ctypes.c_int, [pointer, ctypes.c_char_p, ctypes.c_size_t]),
        ("xkb_compose_state_reset", None, [pointer]),
    ):
        getattr(lib, function).restype = result
        getattr(lib, function).argtypes = arguments
    return lib


@dataclass(frozen=True)
class Stroke:
    """One key as the keyboard sends it: a kernel key code, with or without Shift held."""

    code: int
    shift: bool


class Keyboard:
    def __init__(self, layout: str, variant: str = "") -> None:
        self._lib = lib = _library()
        self._context = lib.xkb_context_new(0)
        names = _RuleNames(b"evdev", b"pc105", layout.encode(), variant.encode(), b"")
        self._keymap = lib.xkb_keymap_new_from_names(self._context, ctypes.byref(names), 0)
        if not self._context or not self._keymap:
            raise KeyboardUnavailable(f"libxkbcommon could not compile the layout {layout}({variant}) (xkb-data?)")
        self.name = f"{layout}({variant})" if variant else layout
        self._table = lib.xkb_compose_table_new_from_locale(self._context, b"en_US.UTF-8", 0)
        self._keys: dict[str, Stroke] = {}
        self.levels = {code: (self._sym(code, False), self._sym(code, True)) for code in KEY_RANGE}

    def _sym(self, code: int, shift: bool) -> int:
        """The keysym a key types alone or with Shift held, from a fresh keyboard state."""
        state = self._lib.xkb_state_new(self._keymap)
        if shift:
            self._lib.xkb_state_update_key(state, KEY_LEFTSHIFT + EVDEV_OFFSET, 1)  # XKB_KEY_DOWN
        sym: int = self._lib.xkb_state_key_get_one_sym(state, code + EVDEV_OFFSET)
        return sym

    def character(self, stroke: Stroke) -> str:
        """What the key types with no dead key pending: a character, a dead key's name, or ""."""
        sym = self.levels[stroke.code][stroke.shift]
        name = self._name(sym)
        if name.startswith("dead_"):
            return name
        point = self._lib.xkb_keysym_to_utf32(sym)
        return chr(point) if point >= 0x20 else ""

    def _name(self, sym: int) -> str:
        buffer = ctypes.create_string_buffer(64)
        self._lib.xkb_keysym_get_name(sym, buffer, 64)
        return buffer.value.decode()

    def strokes(self, char: str) -> Stroke:
        """The key (and Shift) this layout types ``char`` with: unshifted first, lowest key code first."""
        if not self._keys:
            for shift in (True, False):
                for code in sorted(MAIN_KEYS, reverse=True):
                    self._keys[self.character(Stroke(code, shift))] = Stroke(code, shift)
        if char not in self._keys:
            raise KeyError(f"{self.name} has no key for {char!r}")
        return self._keys[char]

    def type(self, strokes: list[Stroke], composer: str = "compose") -> str:
        """The text a host with this layout makes of ``strokes``."""
        if composer == "compose":
            return self._compose(strokes)
        text, pending = [], ""
        for stroke in strokes:
            typed = self.character(stroke)
            if typed.startswith("dead_"):
                pending = SPACING.get(typed, "?") if composer == "spacing" else ""
                continue
            text.append(pending + typed)
            pending = ""
        return "".join(text) + pending

    def _compose(self, strokes: list[Stroke]) -> str:
        lib, text = self._lib, []
        state = lib.xkb_compose_state_new(self._table, 0) if self._table else None
        for stroke in strokes:
            sym = self.levels[stroke.code][stroke.shift]
            if state is None:
                text.append(self.character(stroke))
                continue
            lib.xkb_compose_state_feed(state, sym)
            status = lib.xkb_compose_state_get_status(state)
            if status == _COMPOSED:
                buffer = ctypes.create_string_buffer(64)
                lib.xkb_compose_state_get_utf8(state, buffer, 64)
                text.append(buffer.value.decode())
                lib.xkb_compose_state_reset(state)
            elif status == _CANCELLED:
                lib.xkb_compose_state_reset(state)  # the cancelling key goes with the sequence
            elif status != _COMPOSING:
                text.append(self.character(stroke))
        return "".join(text)


def layout_names(spec: str) -> tuple[str, str]:
    """``de`` -> ("de", ""), ``jp(106)`` -> ("jp", "106")."""
    layout, _, variant = spec.partition("(")
    return layout, variant.rstrip(")")
