"""lrcourse.finetune (notebook 14): transfer tasks, param groups per layer, the fine-tuning runs, the exercise."""
import nbformat
import numpy as np
import pytest
import torch

from lrcourse import classroom
from lrcourse.finetune import (
    ARMS,
    arm_groups,
    check_layerwise_groups,
    discriminative_groups,
    fine_tune,
    finetune,
    group_lr_curves,
    head_only_groups,
    layers,
    layerwise_lr_groups,
    one_lr_groups,
    task,
    transfer_tasks,
    with_new_head,
)
from lrcourse.models import mlp
from lrcourse.schedules import warmup_linear


@pytest.fixture(scope="module")
def tasks():
    return transfer_tasks(labels_per_class=6, device="cpu")


def params_of(groups):
    return [id(p) for g in groups for p in g["params"]]


# --- the tasks --------------------------------------------------------------------------------

def test_transfer_tasks_relabel_the_classes_and_keep_few_labels(tasks):
    source, target = tasks
    assert source.num_classes == target.num_classes == 5
    assert sorted(torch.unique(source.train[1]).tolist()) == [0, 1, 2, 3, 4]
    assert torch.bincount(target.train[1]).tolist() == [6] * 5
    assert len(target.val[1]) == len(source.val[1]) == 500  # val and test stay whole
    full = transfer_tasks(labels_per_class=6, device="cpu")[1]
    assert torch.equal(full.train[0], target.train[0])  # seeded: the same few labels again


def test_task_draws_other_labels_with_another_seed_and_refuses_too_many(tasks):
    from lrcourse.data import mnist1d
    ds = mnist1d(device="cpu")
    a, b = task(ds, (5, 6), 4, seed=0), task(ds, (5, 6), 4, seed=1)
    assert not torch.equal(a.train[0], b.train[0])
    with pytest.raises(ValueError, match="labels_per_class"):
        task(ds, (5,), 10**6)
    with pytest.raises(ValueError, match="distinct"):
        task(ds, (5, 5))


def test_with_new_head_keeps_the_body_and_leaves_the_original_alone():
    model = mlp(40, hidden=(8, 8), out_features=5, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    new = with_new_head(model, 3, seed=1)
    assert new[-1].out_features == 3 and model[-1].out_features == 5
    for a, b in zip(list(new.parameters())[:-2], before[:-2]):
        assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before))
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(new.parameters(), model.parameters()))


# --- param groups -----------------------------------------------------------------------------

def test_layerwise_groups_put_the_head_first_at_lr_and_decay_geometrically_down():
    model = mlp(40, hidden=(8, 8, 8), out_features=5)
    groups = layerwise_lr_groups(model, lr=0.01, decay=0.5)
    assert [g["name"] for g in groups] == ["head", "layer 3", "layer 2", "layer 1"]
    assert [g["lr"] for g in groups] == pytest.approx([0.01, 0.005, 0.0025, 0.00125], rel=1e-15)
    assert groups[0]["params"] == list(model[-1].parameters())
    assert sorted(params_of(groups)) == sorted(id(p) for p in model.parameters())  # each parameter once


def test_discriminative_groups_span_lo_to_hi_and_equal_llrd_with_the_matching_decay():
    model = mlp(40, hidden=(8, 8, 8), out_features=5)
    groups = discriminative_groups(model, 1e-2, 1e-4)
    lrs = [g["lr"] for g in groups]
    assert lrs[0] == pytest.approx(1e-2) and lrs[-1] == pytest.approx(1e-4, rel=1e-12)
    assert np.allclose(np.diff(np.log(lrs)), np.log(0.01) / 3)  # geometric
    assert lrs == pytest.approx([g["lr"] for g in layerwise_lr_groups(model, 1e-2, 0.01 ** (1 / 3))], rel=1e-14)
    with pytest.raises(ValueError, match="lo"):
        discriminative_groups(model, 1e-3, 1e-2)


def test_one_lr_and_head_only_groups():
    model = mlp(40, hidden=(8,), out_features=5)
    assert [g["lr"] for g in one_lr_groups(model, 0.1)] == [0.1, 0.1]
    groups = head_only_groups(model, 0.1)
    assert [g["lr"] for g in groups] == [0.1, 0.0]
    assert [p.requires_grad for p in model[1].parameters()] == [False, False]
    assert all(p.requires_grad for p in model[-1].parameters())


def test_arm_groups_names_the_arms_and_refuses_others():
    model = mlp(40, hidden=(8,), out_features=5)
    assert set(ARMS) == {"all at one LR", "head only", "LLRD", "discriminative"}
    assert [g["lr"] for g in arm_groups("LLRD", model, 1.0, decay=0.25)] == [1.0, 0.25]
    with pytest.raises(ValueError, match="name"):
        arm_groups("everything", model, 1.0)


def test_layers_are_the_linear_layers_in_order():
    model = mlp(40, hidden=(8, 4), out_features=5)
    assert [m.out_features for m in layers(model)] == [8, 4, 5]


# --- the runs ---------------------------------------------------------------------------------

def test_finetune_applies_the_schedule_to_group_zero_and_keeps_every_ratio_like_torch_lambda_lr(tasks):
    _, target = tasks
    model = mlp(40, hidden=(8, 8), out_features=5, seed=0)
    groups = layerwise_lr_groups(model, 3e-3, 0.3)
    h, schedule = finetune(model, groups, target, epochs=3, batch_size=10, seed=0)
    assert schedule == warmup_linear(3e-3, 9, 1)
    twin = mlp(40, hidden=(8, 8), out_features=5, seed=0)  # the oracle: torch's LambdaLR on the same groups
    opt = torch.optim.AdamW(layerwise_lr_groups(twin, 3e-3, 0.3), lr=3e-3)
    ref = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: schedule(t) / 3e-3)
    expected = []
    for _ in range(9):
        expected.append([g["lr"] for g in opt.param_groups])
        opt.step()
        ref.step()
    assert np.allclose(h.group_lrs, expected, rtol=1e-12, atol=0)
    assert h.group_lrs[0][0] == 0.0 and h.group_lrs[1][2] == pytest.approx(3e-3 * 0.09)


def test_head_only_leaves_the_body_bitwise_unchanged_under_adamw_weight_decay(tasks):
    _, target = tasks
    model = mlp(40, hidden=(8,), out_features=5, seed=0)
    body, head = [p.detach().clone() for p in model[1].parameters()], model[-1].weight.detach().clone()
    h, _ = finetune(model, head_only_groups(model, 1e-2), target, epochs=2, batch_size=10, weight_decay=0.1)
    assert all(torch.equal(a, b) for a, b in zip(model[1].parameters(), body))
    assert not torch.equal(model[-1].weight, head)
    assert [row[1] for row in h.group_lrs] == [0.0] * len(h.lr) and max(h.lr) == pytest.approx(1e-2)


def test_fine_tune_trains_the_head_first_then_everything_with_a_discriminative_spread(tasks):
    _, target = tasks
    model = mlp(40, hidden=(8, 8), out_features=5, seed=0)
    first = model[1].weight.detach().clone()
    h1, h2 = fine_tune(model, target, 1e-2, freeze_epochs=1, epochs=2, lr_mult=100, batch_size=10)
    assert all(row[1:] == [0.0, 0.0] for row in h1.group_lrs)
    peak = max(range(len(h2.lr)), key=h2.lr.__getitem__)
    assert h2.group_lrs[peak] == pytest.approx([5e-3, 5e-4, 5e-5], rel=1e-12)
    assert not torch.equal(model[1].weight, first) and all(p.requires_grad for p in model.parameters())


# --- the explorer's pure part and the widget --------------------------------------------------

@pytest.mark.parametrize("rule, expected", [("LLRD", [1.0, 0.5, 0.25]), ("discriminative", [1.0, 0.1, 0.01]),
                                            ("one LR", [1.0, 1.0, 1.0]), ("head only", [1.0, 0.0, 0.0])])
def test_group_lr_curves_rules(rule, expected):
    names, lrs, curves = group_lr_curves(1.0, layers=3, rule=rule, decay=0.5, spread=100, total_steps=10)
    assert names == ["head", "layer 2", "layer 1"] and lrs == pytest.approx(expected)
    assert curves.shape == (10, 3) and np.allclose(curves, np.outer(warmup_linear(1.0, 10, 1).curve(10), expected))


def test_group_lr_explorer_follows_its_sliders():
    pytest.importorskip("ipywidgets")
    from lrcourse.widgets import group_lr_explorer
    w = group_lr_explorer(1e-3, layers=3)
    assert w.lrs == pytest.approx([1e-3, 5e-4, 2.5e-4])
    w.controls["rule"].value = "discriminative"
    assert w.lrs[-1] == pytest.approx(1e-5)
    w.controls["layers"].value = 5
    assert len(w.lrs) == 5


# --- the exercise -----------------------------------------------------------------------------

def solution(model, lr, decay):
    return [{"params": list(layer.parameters()), "lr": lr * decay ** k} for k, layer in enumerate(reversed(layers(model)))]


@pytest.mark.parametrize("learner, words", [
    (lambda m, lr, d: [{"params": list(x.parameters()), "lr": lr * d ** k} for k, x in enumerate(layers(m))],
     "Group 0 must be the head"),
    (lambda m, lr, d: [{"params": list(x.parameters()), "lr": lr * d ** (k + 1)}
                       for k, x in enumerate(reversed(layers(m)))], "one too high"),
    (lambda m, lr, d: [{"params": [x.weight], "lr": lr * d ** k} for k, x in enumerate(reversed(layers(m)))],
     "weight and a bias"),
    (lambda m, lr, d: [{"params": list(x.parameters()), "lr": lr * (1 - k * (1 - d))}
                       for k, x in enumerate(reversed(layers(m)))], "geometrically"),
    (lambda m, lr, d: [{"params": list(m.parameters()), "lr": lr}], "expected 3 groups"),
    (lambda m, lr, d: None, "returned None"),
    (lambda m, lr, d: 1 / 0, "ZeroDivisionError"),
])
def test_check_layerwise_groups_explains_the_first_wrong_group(learner, words, capsys):
    result = check_layerwise_groups(learner)
    out = capsys.readouterr().out
    assert not result.passed and result.score < 1 and words in out, out


def test_check_layerwise_groups_passes_a_solution_and_a_template_is_not_attempted(capsys):
    assert check_layerwise_groups(solution).score == 1.0

    def template(model, lr, decay):
        raise NotImplementedError()

    result = check_layerwise_groups(template)
    assert result.score == 0.0 and not result.attempted
    assert "Not attempted" in capsys.readouterr().out


def test_a_wrong_exponent_that_only_shows_with_two_or_more_body_layers_gets_partial_credit(capsys):
    def only_two(model, lr, decay):  # right for models of up to 2 layers, wrong below that
        return [{"params": list(x.parameters()), "lr": lr * decay ** min(k, 1)}
                for k, x in enumerate(reversed(layers(model)))]

    result = check_layerwise_groups(only_two)
    assert 0 < result.score < 1 and "group 2" in capsys.readouterr().out


def test_the_classroom_kit_knows_check_layerwise_groups():
    """A check cell of the new check gets nbgrader metadata and is converted to end in its score."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def f(model, lr, decay):\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("result = check_layerwise_groups(f)\nassert result.passed"),
    ])
    tagged = classroom.add_nbgrader_metadata(nb)
    assert classroom.is_test_cell(tagged.cells[1])
    converted, notes = classroom.convert_check_cells(tagged, "x.ipynb")
    assert converted.cells[1].source.splitlines()[-1].startswith("result.score") and "now ends in its score" in notes[0]

