import pytest

from robust_tickets.attacks.pgd import PGD
from robust_tickets.config import PRESETS, ExperimentConfig
from robust_tickets.errors import UserError
from robust_tickets.resolve import from_flat, replace_fields


def test_defaults_are_the_papers():
    c = from_flat({})
    assert (c.train.learning_rate, c.train.batch_size, c.train.train_iters) == (1.2e-3, 60, 50_000)
    assert (c.attack.eps, c.flat()["step_size"], c.flat()["steps"]) == (0.3, 0.05, 10)
    assert c.attack.attack.name == "fgsm" and from_flat({"attack": "pgd"}).attack.params == (
        PGD.Params(step_size=0.05, steps=10, random_start=True)
    )
    rates = c.prune.allocation.params
    assert (rates.rate, rates.rate_output, c.prune.prune_iters) == (0.2, 0.1, 20)
    assert (c.data.valid_size, c.data.label_smoothing) == (10_000, 0.1)
    assert c.model.model == "dense-300-100"
    assert c.attack.attack_labels == "predicted"  # CleverHans' generate(x) without labels


# the criteria's own settings, read only when that criterion is chosen (tests/test_criteria.py)
SNIP_HYDRA = {"snip_batches", "hydra_iters", "hydra_lr", "hydra_train_bn"}
# the single-step attacks' settings (nfgsm, fgsm-rs), read only when that attack is chosen
SINGLE_STEP = {"nfgsm_noise", "nfgsm_step", "fgsm_rs_step"}
# sgd's and the schedules' settings, read only with adam and the constant schedule chosen
OPTIM = {"momentum", "nesterov", "weight_decay", "cosine_floor", "gamma"}


# read only by what these configs leave off: the overfitting check, the trades objective
OFF_BY_DEFAULT = {"co_every", "co_drop", "trades_beta"}


@pytest.mark.parametrize(
    ("base_values", "unread"),
    [
        (
            {"attack": "pgd", "strategy": "rewind", "rewind_iter": 5},
            {"prune_rate_conv", *SNIP_HYDRA, *SINGLE_STEP, *OPTIM},
        ),
        (
            {"dataset": "cifar10", "model": "conv2", "attack": "pgd", "strategy": "rewind"},
            SNIP_HYDRA | SINGLE_STEP | OPTIM,
        ),
        (
            {"attack": "pgd", "criterion": "hydra"},
            {"prune_rate_conv", "rewind_iter", "snip_batches", *SINGLE_STEP, *OPTIM},
        ),
        (
            {"attack": "pgd", "criterion": "snip"},
            {"prune_rate_conv", "rewind_iter", "hydra_iters", "hydra_lr", "hydra_train_bn"}
            | SINGLE_STEP
            | OPTIM,
        ),
        (
            {"attack": "nfgsm"},
            {"step_size", "steps", "random_start", "fgsm_rs_step", "rewind_iter", "prune_rate_conv"}
            | SNIP_HYDRA
            | OPTIM,
        ),
        (
            {"attack": "fgsm-rs"},
            {"step_size", "steps", "random_start", "nfgsm_noise", "nfgsm_step", "rewind_iter"}
            | {"prune_rate_conv", *SNIP_HYDRA, *OPTIM},
        ),
        (
            {"attack": "pgd", "optimizer": "sgd", "momentum": 0.9, "lr_schedule": "cosine"},
            {"prune_rate_conv", "rewind_iter", "gamma", *SNIP_HYDRA, *SINGLE_STEP},
        ),
    ],
)
def test_hash_covers_every_field_a_component_reads(base_values, unread):
    unread = unread | OFF_BY_DEFAULT
    base = from_flat(base_values)
    seen = {base.hash()}
    for name, value in base.flat().items():
        if isinstance(value, bool):
            changed = not value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            changed = value + (1 if isinstance(value, int) else 0.01)
        else:
            continue
        try:
            other = replace_fields(base, **{name: changed})
        except UserError:
            continue
        if name in unread:
            assert other.hash() == base.hash(), f"{name} is read by no component"
            continue
        assert other.hash() not in seen, f"changing {name} did not change the hash"
        seen.add(other.hash())


@pytest.mark.parametrize(
    ("base", "ignored"),
    [
        ({"attack": "fgsm"}, {"steps": 3, "step_size": 0.1, "random_start": False}),
        ({"strategy": "reset"}, {"rewind_iter": 7}),
        ({"strategy": "dense"}, {"prune_rate": 0.5, "prune_method": "global", "prune_iters": 4}),
        ({"prune_method": "global"}, {"prune_rate_output": 0.3, "prune_rate_conv": 0.3}),
        ({"model": "dense-300-100"}, {"prune_rate_conv": 0.3}),
    ],
)
def test_settings_no_component_reads_do_not_split_runs(base, ignored):
    assert from_flat({**base, **ignored}).name() == from_flat(base).name()


def test_current_run_directories_keep_their_names():
    from robust_tickets.config import PRESETS

    quick = from_flat(PRESETS["quick"])
    assert quick.name() == "fashion_mnist-dense-300-100-fgsm-adv-reset-b5fb551c27"
    assert from_flat({**PRESETS["quick"], "steps": 20}).name() == quick.name()


def test_cifar10_defaults_to_its_standard_threat_model():
    c = from_flat({"dataset": "cifar10", "model": "conv2", "attack": "pgd"})
    assert (c.attack.eps, c.attack.params.step_size, c.attack.params.steps) == (
        8 / 255,
        2 / 255,
        10,
    )
    assert c.attack.params.random_start and c.attack.attack_labels == "true"
    # another attack keeps the dataset's PGD settings beside it, as a run stored them
    assert from_flat({"dataset": "cifar10", "model": "conv2"}).flat()["step_size"] == 2 / 255
    assert from_flat({"dataset": "cifar10", "eps": 0.1}).attack.eps == 0.1
    assert from_flat({"dataset": "cifar10", "eps": "8/255"}).attack.eps == 8 / 255
    # the paper's datasets keep the paper's threat model
    assert from_flat({"dataset": "mnist"}).attack.attack_labels == "predicted"


def test_dense_ignores_prune_iters_so_it_has_one_directory():
    a = from_flat({"strategy": "dense", "prune_iters": 20})
    assert a.name() == from_flat({"strategy": "no_pruning", "prune_iters": 3}).name()


def test_setting_a_default_explicitly_keeps_the_identity():
    assert from_flat({}).hash() == from_flat({"eps": 0.3, "train_iters": 50_000}).hash()


def test_aliases_are_canonicalised_so_they_share_a_directory():
    a = from_flat({"strategy": "reinit_orig"})
    b = from_flat({"strategy": "rewind_trained"})
    assert a == b and a.name() == b.name()
    assert from_flat({"strategy": "no_pruning"}).prune.strategy.name == "dense"
    assert from_flat({"strategy": "reinit_rand"}).prune.strategy.name == "random"
    assert from_flat({"strategy": "reinit_none"}).prune.strategy.name == "continue"


@pytest.mark.parametrize(
    "bad",
    [
        {"train_iters": 0},
        {"eps": -0.1},
        {"prune_rate": 1.0},
        {"prune_rate_output": -0.1},
        {"dataset": "nope"},
        {"model": "nope"},
        {"attack": "nope"},
        {"strategy": "nope"},
        {"batch_size": 0},
        {"not_a_field": 1},
        {"train_iters": "ten"},
        {"prune_rate_conv": 1.0},
        {"criterion": "nope"},
        {"model": "conv6", "dataset": "cifar10", "test_size": -1},
    ],
)
def test_bad_values_are_user_errors(bad):
    with pytest.raises(UserError):
        from_flat(bad)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid(name):
    config = from_flat(PRESETS[name])
    assert isinstance(config, ExperimentConfig)
    assert from_flat(config.flat()) == config  # its flat fields rebuild it


def test_a_later_option_keeps_old_names_at_its_neutral_value_and_changes_them_otherwise():
    # attack_labels came after the first release: at "true" (the old behaviour) it is left
    # out of the hash, so runs made before it existed keep their directory names
    assert from_flat({"attack_labels": "true"}).hash() == "58201a1815"
    assert from_flat({"attack_labels": "predicted"}).hash() != "58201a1815"


def test_a_stored_config_from_before_a_field_existed_keeps_its_behaviour_and_name():
    from robust_tickets.resolve import config_from_dict

    old = from_flat({"attack_labels": "true", "adv_train": True})
    stored = old.to_dict()
    del stored["attack"]["attack_labels"]  # as written before the field was added
    assert config_from_dict(stored) == old and config_from_dict(stored).name() == old.name()
    assert config_from_dict(from_flat({}).to_dict()) == from_flat({})  # round trip


def test_preset_run_options_are_run_options_of_existing_presets():
    from robust_tickets.cli.options import RUN_OPTION_KEYS
    from robust_tickets.config import PRESET_RUN_OPTIONS

    assert set(PRESET_RUN_OPTIONS) <= set(PRESETS)
    for name, options in PRESET_RUN_OPTIONS.items():
        assert set(options) <= set(RUN_OPTION_KEYS), name
        assert options.get("trials", 1) >= 1


def test_the_attack_as_a_spec_in_a_file_is_not_its_section():
    from robust_tickets.config import flatten_mapping

    spec = flatten_mapping({"attack": {"name": "pgd", "params": {"steps": 3}}}, "f.yaml")
    section = flatten_mapping({"attack": {"attack": "pgd", "steps": 3}}, "f.yaml")
    nested = flatten_mapping({"attack": {"attack": {"name": "pgd", "params": {"steps": 3}}}}, "f")
    flat = from_flat({"attack": "pgd", "steps": 3})
    assert from_flat(spec) == from_flat(section) == from_flat(nested) == flat
    assert flat.attack.params.steps == 3
