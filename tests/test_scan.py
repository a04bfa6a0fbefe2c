"""The scanner that reads registered names and component settings from the source (`ast`, no
import): what it reads, and that what it cannot read fails naming the file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from robust_tickets.names import Kind
from robust_tickets.scan import ScanError, scan

KINDS = {"thing": Kind("THINGS"), "part": Kind("PARTS", components=True)}
HEAD = """
from dataclasses import dataclass
from typing import ClassVar

from pkg.base import PARTS, THINGS, Part
from robust_tickets.components import Params, setting
"""


def _package(tmp_path: Path, **files: str) -> Path:
    """A package `pkg` with a `base` module (the registries, a base class) and `files` (name ->
    source, HEAD prepended) in its folder `comps`."""
    package = tmp_path / "pkg"
    (package / "comps").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "comps" / "__init__.py").write_text("")
    (package / "base.py").write_text(
        "from robust_tickets.components import Component, ComponentRegistry\n"
        "from robust_tickets.registry import Registry\n"
        'THINGS = Registry("thing")\n'
        'PARTS = ComponentRegistry("part")\n'
        "class Part(Component):\n"
        "    pass\n"
    )
    for name, source in files.items():
        (package / "comps" / f"{name}.py").write_text(HEAD + textwrap.dedent(source))
    return package


def _scan(package: Path):
    return scan(package, ("comps",), KINDS)


def test_it_reads_names_and_settings_as_the_components_declare_them(tmp_path):
    package = _package(
        tmp_path,
        things="""
            THINGS.register("b-thing", aliases=("old",))(object())
            LATER = THINGS.register("a-thing")(object())

            @THINGS.register("c-thing")
            def _c():
                pass
            """,
        parts="""
            STEP = "the step,"
            THIRD = 1 / 3

            @PARTS.add
            class Spin(Part):
                name: ClassVar[str] = "spin-x"
                aliases = ("spin",)

                @dataclass(frozen=True)
                class Params(Params):
                    eps: float = setting(8 / 255, "the radius")
                    step: float = setting(
                        -THIRD, STEP + " in multiples of eps" " (implicitly concatenated)"
                    )
                    rounds: int = setting(default=2 * 3, help="rounds", flat="spin_rounds")
                    keep: bool = setting(False, "keep it", since=True)
                    label: str = setting("a", "a label", flat="label")
                    kind: ClassVar[str] = "not a field"

                    def validate(self) -> None:
                        pass

            @PARTS.add
            class Flat(Part):
                name = "flat"

            @PARTS.add
            class Twin(Spin):  # inherits Spin's Params, flat names and all
                name = "twin"
            """,
    )
    found = _scan(package)
    assert found.names == {
        "thing": ("a-thing", "b-thing", "c-thing"),
        "part": ("flat", "spin-x", "twin"),
    }
    both = "part `spin-x`, `twin`: "  # the same help read by two parts: one line, not two
    assert found.settings == {
        "spin_x_eps": (float, 8 / 255, f"{both}the radius"),
        "spin_x_step": (
            float,
            -1 / 3,
            f"{both}the step, in multiples of eps (implicitly concatenated)",
        ),
        "spin_rounds": (int, 6, f"{both}rounds"),
        "spin_x_keep": (bool, False, f"{both}keep it"),
        "label": (str, "a", f"{both}a label"),
    }


def test_settings_are_inherited_across_modules(tmp_path):
    """A component subclassing one of another file (imported) has its Params, and the flat
    names its owner gave them (`Component.__init_subclass__`)."""
    package = _package(
        tmp_path,
        spin="""
            @PARTS.add
            class Spin(Part):
                name = "spin"

                @dataclass(frozen=True)
                class Params(Params):
                    turns: int = setting(2, "turns")
            """,
        echo="""
            from pkg.comps import spin

            @PARTS.add
            class Echo(spin.Spin):
                name = "echo"
            """,
    )
    assert _scan(package).settings == {"spin_turns": (int, 2, "part `echo`, `spin`: turns")}


def test_a_new_file_is_read_without_editing_a_list(tmp_path):
    package = _package(tmp_path, one='THINGS.register("one")(object())\n')
    assert _scan(package).names["thing"] == ("one",)
    (package / "comps" / "deeper").mkdir()
    (package / "comps" / "deeper" / "two.py").write_text(HEAD + 'THINGS.register("two")(1)\n')
    assert _scan(package).names["thing"] == ("one", "two")


@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        (  # the names of a loop: write one call per name
            """
            for _name in ("x", "y"):
                THINGS.register(_name)(object())
            """,
            9,
            "cannot read the name _name registered here",
        ),
        (
            """
            register = THINGS.register
            register("x")(object())
            """,
            8,
            "cannot read this use of THINGS.register",
        ),
        (
            'THINGS.register("x")(1)\nTHINGS.register("x")(2)\n',
            8,
            "'x' is registered twice: pkg/comps/bad.py:7",
        ),
        (
            """
            @PARTS.add
            class P(Part):
                name = "p"

                @dataclass(frozen=True)
                class Params(Params):
                    n: int = setting(len("ab"), "a count")
            """,
            14,
            'cannot read len("ab")',
        ),
        (
            """
            @PARTS.add
            class P(Part):
                name = "p"

                @dataclass(frozen=True)
                class Params(Params):
                    rate: float = setting(0, "a rate")
            """,
            14,
            "its default 0 is no float",
        ),
        (
            """
            @PARTS.add
            class P(Part):
                name = "p"

                @dataclass(frozen=True)
                class Params(Params):
                    n: int = 3
            """,
            14,
            "declare n with setting(default, help)",
        ),
        (
            """
            @PARTS.add
            class P(Part):
                name = "p"

                @dataclass(frozen=True)
                class Params(Params):
                    n: list = setting(3, "a count")
            """,
            14,
            "its type must be bool, int, float or str",
        ),
        (
            """
            @PARTS.add
            class P(Part):
                pass
            """,
            9,
            'P has no `name = "..."`',
        ),
        ('PARTS.register("p")(object())\n', 7, "register this part with @PARTS.add"),
        ("@THINGS.add\nclass T(Part):\n    name = 't'\n", 7, 'with THINGS.register("name")'),
        (
            """
            @PARTS.add
            class P(Part):
                name = "p"

                @dataclass(frozen=True)
                class Params(Part.Params):
                    n: int = setting(1, "n")
            """,
            13,
            "P.Params must subclass components.Params itself",
        ),
    ],
)
def test_what_it_cannot_read_fails_naming_file_and_line(tmp_path, source, line, says):
    package = _package(tmp_path, bad=source)
    with pytest.raises(ScanError) as error:
        _scan(package)
    assert str(error.value).startswith(f"pkg/comps/bad.py:{line}: "), error.value
    assert says in str(error.value)


def test_settings_two_components_share_must_agree(tmp_path):
    part = """
        @PARTS.add
        class {name}(Part):
            name = "{name}"

            @dataclass(frozen=True)
            class Params(Params):
                rate: float = setting({default}, "a rate", flat="rate")
        """
    package = _package(
        tmp_path,
        a=part.format(name="a", default=0.5),
        b=part.format(name="b", default=0.25),
    )
    with pytest.raises(ScanError, match="rate: components disagree"):
        _scan(package)
