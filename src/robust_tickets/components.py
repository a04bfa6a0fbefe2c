"""Components that own their settings: the base of every registered criterion, allocation,
strategy, optimizer, schedule and attack (and, next, model and dataset).

A component is a class with a `name` (and `aliases`) and a nested frozen `Params` dataclass
holding its own settings, each declared once with `setting(default, help)` and checked by
`Params.validate`. An instance is built with its params (`Component(params)`), so the code that
runs reads ``self.params.batches``, never the run's whole config. A config holds one `Spec`
(``{name, params}``) per chosen component, so two components may each have a `steps`.

Every setting also has one flat name, ``<component>_<setting>`` unless it says otherwise
(``snip_batches``, ``hydra_lr``; the two allocations share ``prune_rate``): the CLI flag, the
YAML field and the sweep axis that sets it on whichever component of its kind is chosen.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

from robust_tickets.errors import UserError
from robust_tickets.registry import Registry

HINT = ": fix the flag or config file"
_UNSET = object()


def setting(default: Any, help: str, *, flat: str | None = None, since: Any = _UNSET) -> Any:
    """One setting of a component's `Params`: its default, a help line for ``--help``, its flat
    name if not ``<component>_<name>``, and `since`: the value that reproduces how runs behaved
    before the setting existed, where that is not its default (a stored config lacking it gets
    it; at that value it leaves a run's identity as it was)."""
    meta: dict[str, Any] = {"help": help}
    if flat is not None:
        meta["flat"] = flat
    if since is not _UNSET:
        meta["since"] = since
    return field(default=default, metadata=meta)


def number(text: str) -> float:
    """A float from text, also a fraction such as ``8/255`` (how CIFAR-10 radii are written)."""
    top, slash, bottom = text.partition("/")
    if not slash:
        return float(text)
    if float(bottom) == 0:
        raise ValueError(f"zero denominator in {text!r}")
    return float(top) / float(bottom)


def coerce(name: str, kind: type, value: Any) -> Any:
    """`value` as a `kind` (bool, int, float or str) from YAML or text; a UserError if it is not."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UserError(f"{name} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise UserError(f"{name} must be an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise UserError(f"{name} must be an integer, got {value!r}") from None
    if kind is float:
        try:
            return number(value) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise UserError(f"{name} must be a number, got {value!r}") from None
    if not isinstance(value, str):
        raise UserError(f"{name} must be a string, got {value!r}")
    return value


@dataclass(frozen=True)
class Params:
    """A component's settings (none here). Subclasses are frozen dataclasses of `setting`s and
    override `validate`; the owning component fills `flat_names` when it is defined."""

    owner: ClassVar[str] = ""  # the component's name
    flat_names: ClassVar[dict[str, str]] = {}

    def validate(self) -> None:
        """Raise a one-line UserError (`require`) for a value the component cannot run with."""

    def require(self, ok: bool, name: str, what: str) -> None:
        """A UserError naming the setting by its flat name unless `ok`."""
        if not ok:
            raise UserError(f"{self.flat_names[name]} {what}{HINT}")

    def checked(self) -> Params:
        """Itself, once every float is finite and `validate` passes."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(
                    f"{self.flat_names[f.name]} must be a finite number, got {value!r}{HINT}"
                )
        self.validate()
        return self

    @classmethod
    def build(cls, values: Mapping[str, Any], *, stored: bool = False) -> Params:
        """Validated params from setting names -> values (typed like the defaults); a setting
        left out gets its default, or in a `stored` config its `since` value."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            have = ", ".join(known) or "none"
            raise UserError(
                f"{cls.owner} has no setting {', '.join(unknown)}: its settings are {have}"
            )
        given = {n: coerce(cls.flat_names[n], type(known[n].default), v) for n, v in values.items()}
        if stored:
            for n, f in known.items():
                if "since" in f.metadata:
                    given.setdefault(n, f.metadata["since"])
        return cls(**given).checked()

    def flat(self) -> dict[str, Any]:
        """Flat name -> value of every setting."""
        return {self.flat_names[f.name]: getattr(self, f.name) for f in fields(self)}

    def neutral(self) -> dict[str, Any]:
        """Flat name -> the value at which a setting leaves a run's identity alone."""
        return {self.flat_names[f.name]: f.metadata.get("since", f.default) for f in fields(self)}


@dataclass(frozen=True, eq=False)
class Spec:
    """A chosen component, ``{name, params}``: what a config holds. `params` is None until the
    config is resolved (`robust_tickets.resolve`), which fills in the component's typed params."""

    name: str
    params: Params | None = None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):  # `spec == "dense"` would be silently False: compare .name
            raise TypeError(f"compare {self.name!r} as spec.name, not the spec, with a string")
        if not isinstance(other, Spec):
            return NotImplemented
        return (self.name, self.params) == (other.name, other.params)

    def __hash__(self) -> int:
        return hash((self.name, self.params))

    def __str__(self) -> str:
        if self.params is None:
            return self.name
        values = ", ".join(f"{f.name}={getattr(self.params, f.name)}" for f in fields(self.params))
        return f"{self.name}({values})" if values else self.name


class Component:
    """A registered thing that owns its settings; subclasses set `name` and may nest `Params`."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[Params]] = Params
    # True only where neither choosing this component nor any of its settings can change a
    # trial's dense level 0 (the engine builds it only once level 0 is trained): runs that
    # differ in nothing else then share one level 0 (`engine.borrow`). Each component says so
    # itself; left False, it keeps runs apart (the safe default for a new one).
    after_level0: ClassVar[bool] = False

    def __init__(self, params: Params | None = None) -> None:
        self.params = self.Params() if params is None else params

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("Params")
        if own is None or "name" not in cls.__dict__:
            return
        decorated = own.__dict__.get("__dataclass_params__")  # its own @dataclass, not its base's
        if decorated is None or not decorated.frozen:
            raise TypeError(f"{cls.__name__}.Params must be a @dataclass(frozen=True)")
        prefix = cls.name.replace("-", "_")
        own.owner = cls.name
        own.flat_names = {f.name: f.metadata.get("flat", f"{prefix}_{f.name}") for f in fields(own)}
        for f in fields(own):
            if "help" not in f.metadata:
                raise TypeError(f"{cls.__name__}.Params.{f.name}: declare it with setting()")

    def check(self, config: Any) -> None:
        """Checks against the run's other settings (the config), where a setting's range
        depends on them; raises a one-line UserError."""

    @property
    def spec(self) -> Spec:
        return Spec(self.name, self.params)


C = TypeVar("C", bound=Component)


class ComponentRegistry(Registry[type[C]], Generic[C]):
    """Component classes by name; `get` builds one with a spec's params (or the defaults)."""

    def add(self, cls: type[C]) -> type[C]:
        """Class decorator: register `cls` under its `name` and `aliases`."""
        return self.register(cls.name, aliases=cls.aliases)(cls)

    def cls(self, spec: Spec | str) -> type[C]:
        """The class of the component `spec` (or a name) chooses."""
        return super().get(spec if isinstance(spec, str) else spec.name)

    def get(self, spec: Spec | str, **context: Any) -> C:  # type: ignore[override]
        """The component `spec` names, built with its params (a bare name: the defaults) and
        any run-wide values its kind takes besides (an attack's `eps`)."""
        if isinstance(spec, str):
            return self.cls(spec)(**context)
        return self.cls(spec.name)(spec.params, **context)

    def spec(self, name: str, flat: Mapping[str, Any], *, stored: bool = False) -> Spec:
        """The canonical spec of component `name` with the settings among `flat` (flat name ->
        value) that it owns; the others are not its business."""
        cls = self.cls(name)
        by_flat = {f: n for n, f in cls.Params.flat_names.items()}
        values = {by_flat[f]: v for f, v in flat.items() if f in by_flat}
        return Spec(self.canonical(name), cls.Params.build(values, stored=stored))

    def check_settings(self, flat: Mapping[str, Any]) -> None:
        """Validate the given settings for every component that owns one of them, chosen or
        not: a bad value is an error even where it is ignored."""
        for name in self.names():
            owned = set(self.cls(name).Params.flat_names.values())
            if owned & set(flat):
                self.spec(name, flat)

    def settings(self) -> Iterator[tuple[str, type[C], dataclasses.Field]]:
        """(flat name, component class, field) of every setting of every component."""
        for name in self.names():
            cls = self.cls(name)
            for f in fields(cls.Params):
                yield cls.Params.flat_names[f.name], cls, f


def joined_help(readers: list[tuple[str, str, str]]) -> str:
    """One setting's help from (kind, component, help) of each component that reads it, in
    order; components of one kind with the same help share a line (`lr_schedule `constant`,
    `cosine`: ...`), not one copy each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for kind, name, text in readers:
        groups.setdefault((kind, text), []).append(f"`{name}`")
    return "; ".join(f"{kind} {', '.join(names)}: {text}" for (kind, text), names in groups.items())


def flag_help(registries: Mapping[str, ComponentRegistry]) -> dict[str, tuple[type, Any, str]]:
    """Flat name -> (type, default, help) of every setting of the components in `registries`
    (by the flat field that chooses one), the help naming the components that read it: what
    `names.SETTINGS` reads from the components' source for the torch-free ``--help``."""
    out: dict[str, tuple[type, Any, str]] = {}
    readers: dict[str, list[tuple[str, str, str]]] = {}
    for slot, registry in registries.items():
        for flat, cls, f in registry.settings():
            kind, default, _ = out.get(flat, (type(f.default), f.default, ""))
            if (kind, default) != (type(f.default), f.default):
                raise TypeError(f"{flat}: components disagree on its type or default")
            readers.setdefault(flat, []).append((slot, cls.name, f.metadata["help"]))
            out[flat] = (kind, default, joined_help(readers[flat]))
    return out


__all__ = [
    "Component",
    "ComponentRegistry",
    "Params",
    "Spec",
    "coerce",
    "flag_help",
    "number",
    "setting",
]
