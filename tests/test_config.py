"""Configuration: presets, overrides, auto-detection and validation messages."""
import dataclasses

import pytest
import torch

FORM_NAMES = ("STEPS", "NUM_ACTORS", "NUM_FILTERS", "NUM_BLOCKS", "BATCH_SIZE", "SIMULATIONS",
              "CHECKPOINT_INTERVAL", "MIN_BUFFER_SIZE")

# The values the issue asks for, in FORM_NAMES order.
PRESET_VALUES = {
    "a100": (20000, 2, 192, 15, 8192, 400, 100, 8192),
    "a100_short": (5000, 2, 128, 10, 4096, 200, 50, 4096),
    "t4": (5000, 1, 64, 5, 2048, 200, 50, 2048),
}


# Chess on a GPU takes the cpu preset's measured winner, Gumbel search, at these simulations.
CHESS_GUMBEL_SIMULATIONS = {"t4": 32, "a100": 64, "a100_short": 32}


def chess_values(preset):
    expected = dict(zip(FORM_NAMES, PRESET_VALUES[preset]), SIMULATIONS=CHESS_GUMBEL_SIMULATIONS[preset])
    return tuple(expected[n] for n in FORM_NAMES)


def values(cfg):
    return tuple(getattr(cfg, n.lower()) for n in FORM_NAMES)


@pytest.mark.parametrize("preset", sorted(PRESET_VALUES))
def test_gpu_presets_have_the_issue_values(nb, preset):
    cfg = nb.build_config("chess", preset)
    assert cfg.preset == preset
    assert values(cfg) == chess_values(preset)
    assert cfg.search == "gumbel"
    assert cfg.min_buffer_size <= cfg.buffer_size
    assert cfg.run_name == f"chess-{preset}"
    connect4 = nb.build_config("connect4", preset)                  # Connect Four keeps PUCT
    assert connect4.search == "puct" and connect4.num_filters == PRESET_VALUES[preset][2]


def test_connect4_t4_takes_the_measured_diff(nb):
    """Connect Four on the t4 preset trades simulations for gradient steps (measured on an H100)."""
    cfg = nb.build_config("connect4", "t4")
    expected = dict(zip(FORM_NAMES, PRESET_VALUES["t4"]), SIMULATIONS=64, BATCH_SIZE=1024)
    assert values(cfg) == tuple(expected[n] for n in FORM_NAMES)
    assert cfg.games_per_actor == 1024 and cfg.min_buffer_size <= cfg.buffer_size


def test_cpu_preset_is_small_and_valid(nb):
    cfg = nb.build_config("connect4", "cpu")
    assert cfg.preset == "cpu"
    assert values(cfg) == tuple(getattr(nb.Config(), n.lower()) for n in FORM_NAMES)   # the defaults
    assert cfg.num_filters * cfg.num_blocks <= PRESET_VALUES["t4"][2] * PRESET_VALUES["t4"][3]
    assert cfg.simulations <= PRESET_VALUES["t4"][5] and cfg.steps <= PRESET_VALUES["t4"][0]
    assert 1 <= cfg.min_buffer_size <= cfg.buffer_size


def test_every_preset_builds_for_every_game(nb):
    for game in nb.CONFIG_RULES["game"][1]:
        for preset in ("cpu", "t4", "a100", "a100_short"):
            cfg = nb.build_config(game, preset)
            assert cfg.game == game and cfg.preset == preset


def test_auto_without_gpu_is_cpu(nb, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = nb.build_config("connect4", "auto")
    assert cfg.preset == "cpu" and cfg.run_name == "connect4-cpu"
    assert values(cfg) == values(nb.build_config("connect4", "cpu"))


@pytest.mark.parametrize("gpu,expected", [("NVIDIA A100-SXM4-40GB", "a100"), ("NVIDIA H100 80GB HBM3", "a100"),
                                          ("Tesla T4", "t4"), ("NVIDIA L4", "t4")])
def test_auto_picks_from_the_gpu_name(nb, monkeypatch, gpu, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: gpu)
    assert nb.detect_preset() == expected
    assert nb.build_config("connect4", "auto").preset == expected


def test_overrides_win_over_the_preset(nb):
    cfg = nb.build_config("connect4", "t4", STEPS=7, NUM_ACTORS=3, NUM_FILTERS=16, NUM_BLOCKS=2, BATCH_SIZE=64,
                          SIMULATIONS=10, CHECKPOINT_INTERVAL=5, MIN_BUFFER_SIZE=100)
    assert values(cfg) == (7, 3, 16, 2, 64, 10, 5, 100)
    base = nb.build_config("connect4", "t4")
    others = [f.name for f in dataclasses.fields(cfg) if f.name.upper() not in FORM_NAMES]
    assert all(getattr(cfg, n) == getattr(base, n) for n in others)
    # lower-case names work too
    assert nb.build_config("connect4", "t4", simulations=12).simulations == 12


def test_zero_keeps_the_preset(nb):
    zeros = {n: 0 for n in FORM_NAMES}
    for preset in PRESET_VALUES:
        assert values(nb.build_config("chess", preset, **zeros)) == chess_values(preset)
    cfg = nb.build_config("connect4", "a100", STEPS=0, SIMULATIONS=50)
    assert cfg.steps == 20000 and cfg.simulations == 50


def test_config_round_trips_through_a_dict(nb):
    cfg = nb.build_config("connect4", "t4", SIMULATIONS=20)
    assert nb.Config(**cfg.to_dict()) == cfg


def test_run_name(nb):
    assert nb.build_config("connect4", "cpu", "my-run_2.b").run_name == "my-run_2.b"
    assert nb.build_config("connect4", "cpu", "  spaced  ").run_name == "spaced"
    assert nb.build_config("connect4", "cpu", "").run_name == "connect4-cpu"


def test_seed(nb):
    assert nb.build_config("connect4", "cpu", seed=5).seed == 5


# --- invalid values: ValueError naming the field (upper case) and what is allowed ---
@pytest.mark.parametrize("kwargs,field,allowed", [
    (dict(NUM_FILTERS=-8), "NUM_FILTERS", "8..512"),
    (dict(NUM_FILTERS=4), "NUM_FILTERS", "8..512"),
    (dict(NUM_BLOCKS=100), "NUM_BLOCKS", "1..40"),
    (dict(STEPS="100"), "STEPS", "integer"),
    (dict(STEPS=1.5), "STEPS", "integer"),
    (dict(STEPS=-1), "STEPS", "1.."),
    (dict(SIMULATIONS=1), "SIMULATIONS", "2..4096"),
    (dict(BATCH_SIZE=True), "BATCH_SIZE", "integer"),
    (dict(NUM_ACTORS=17), "NUM_ACTORS", "1..16"),
    (dict(CHECKPOINT_INTERVAL=-5), "CHECKPOINT_INTERVAL", "1.."),
])
def test_invalid_override_values(nb, kwargs, field, allowed):
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "cpu", **kwargs)
    msg = str(e.value)
    assert field in msg and allowed in msg, msg


def test_unknown_preset(nb):
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "v100")
    msg = str(e.value)
    assert "PRESET" in msg and all(p in msg for p in ("auto", "t4", "a100", "a100_short", "cpu")), msg


def test_unknown_game(nb):
    with pytest.raises(ValueError) as e:
        nb.build_config("checkers", "cpu")
    msg = str(e.value)
    assert "GAME" in msg and "connect4" in msg, msg


@pytest.mark.parametrize("name", ["a/b", "../up", ".hidden", "with space", "tab\tname", "semi;colon"])
def test_bad_run_name(nb, name):
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "cpu", name)
    msg = str(e.value)
    assert "RUN_NAME" in msg and "letters" in msg, msg


def test_min_buffer_larger_than_buffer(nb):
    cfg = nb.build_config("connect4", "cpu")
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "cpu", MIN_BUFFER_SIZE=cfg.buffer_size + 1)
    msg = str(e.value)
    assert "MIN_BUFFER_SIZE" in msg and str(cfg.buffer_size) in msg, msg
    # equal is fine
    assert nb.build_config("connect4", "cpu", MIN_BUFFER_SIZE=cfg.buffer_size).min_buffer_size == cfg.buffer_size


def test_material_value_is_for_chess_only(nb):
    assert all(nb.build_config("chess", p).material_value == 0.5 for p in ("cpu", "t4", "a100", "a100_short"))
    assert nb.build_config("chess", "cpu", MATERIAL_VALUE=0.0).material_value == 0.0   # pure AlphaZero targets
    assert nb.build_config("connect4", "cpu").material_value == 0.0
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "cpu", MATERIAL_VALUE=0.5)
    assert "MATERIAL_VALUE" in str(e.value) and "chess only" in str(e.value), str(e.value)
    with pytest.raises(ValueError) as e:
        nb.build_config("chess", "cpu", MATERIAL_VALUE=1.0)   # a capped game must stay below a mate
    assert "MATERIAL_VALUE" in str(e.value) and "0.0..0.9" in str(e.value), str(e.value)


def test_material_target_is_for_chess_only_and_must_fit_the_buffer(nb):
    for p in ("cpu", "t4", "a100", "a100_short"):
        cfg = nb.build_config("chess", p)
        assert (cfg.material_mix, cfg.material_horizon) == (0.5, 8)
        assert cfg.material_horizon * cfg.num_actors * cfg.games_per_actor < cfg.buffer_size
    assert nb.build_config("chess", "cpu", MATERIAL_MIX=0.0).material_mix == 0.0      # pure AlphaZero targets
    assert nb.build_config("connect4", "cpu").material_mix == 0.0
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "cpu", MATERIAL_MIX=0.5)
    assert "MATERIAL_MIX" in str(e.value) and "chess only" in str(e.value), str(e.value)
    with pytest.raises(ValueError) as e:                      # 200 plies x 64 games: 12,800 rows of a 10,000 ring
        nb.build_config("chess", "cpu", MATERIAL_HORIZON=200, BUFFER_SIZE=10_000)
    msg = str(e.value)
    assert "MATERIAL_HORIZON = 200" in msg and "10000" in msg and "BUFFER_SIZE" in msg, msg
    assert nb.build_config("chess", "cpu", MATERIAL_HORIZON=200, BUFFER_SIZE=10_000, MATERIAL_MIX=0.0).material_mix == 0


def test_unknown_override_name(nb):
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "cpu", NUM_FILTRES=64)
    msg = str(e.value)
    assert "NUM_FILTRES" in msg and "NUM_FILTERS" in msg, msg       # names the typo and lists the real names


@pytest.mark.parametrize("name,value", [("SEED", 3), ("RUN_NAME", "other-run"), ("GAME", "connect4"),
                                        ("PRESET", "cpu")])
def test_form_names_given_as_overrides(nb, name, value):
    """The form's other names passed as keyword overrides either take effect or raise a ValueError
    naming them; never a bare TypeError from the Config constructor."""
    try:
        cfg = nb.build_config("connect4", "cpu", **{name: value})
    except ValueError as e:
        assert name in str(e), str(e)
    else:
        assert getattr(cfg, name.lower()) == value
