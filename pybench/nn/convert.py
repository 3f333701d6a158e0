"""``pybench.nn.convert``: swap a model's supported layers for pybench's, folding BatchNorm.

Conversion is two passes over a copy of the model:

1. **BatchNorm folding** (eval mode only). A ``BatchNorm2d`` that directly consumes a
   convolution's output -- and is the only consumer of it -- becomes part of that
   convolution (``W' = W * s``, ``b' = (b - mean) * s + beta`` with
   ``s = gamma / sqrt(var + eps)``, computed in float64) and is replaced by ``nn.Identity``.
   The pairs are found in the ``torch.fx`` graph of the whole model, which follows execution
   order through custom modules (torchvision's ``BasicConv2d``, DenseNet's layers): a pair is
   folded only where that graph proves the edge. Where the model cannot be traced, nothing
   is folded -- neither adjacency in an ``nn.Sequential`` nor a traced child proves how the
   untraceable parent calls its children (it may call them one by one, with other code
   between) -- and the report says so.
2. **Swaps** by a table of :class:`Rule`\\ s, walked top-down: the first rule whose
   ``source`` type is exactly a module's type replaces it (and its subtree is not visited
   further), so block-level rules -- a MobileNet depthwise-separable block, an LSTM -- go
   before the per-layer ones. A rule's ``check`` names why a module cannot be swapped; such
   modules stay PyTorch and are listed in the report.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.fx as fx
from torch import nn
from torch.utils._pytree import tree_flatten

from pybench.nn.blocked import batchnorm_affine, convert_blocked
from pybench.nn.choose import Chooser
from pybench.nn.choose import _time as choose_time
from pybench.nn.conv import Conv2d, conv2d_unsupported_reason
from pybench.nn.lstm import LSTM, LSTMCell, lstm_cell_unsupported_reason, lstm_unsupported_reason
from pybench.nn.report import ConversionReport, Converted, Folded, Skipped, _Tracer

__all__ = ["Rule", "RULES", "register_rule", "ConversionReport", "ConversionMismatch", "Converted", "Folded",
           "Skipped", "convert", "fold_batchnorm"]


@dataclass(frozen=True)
class Rule:
    """One swap: modules whose type is exactly ``source`` become ``swap(module)``.

    Attributes:
        name: what the report calls this swap, e.g. ``"conv2d"``.
        source: the PyTorch module type matched (subclasses are not: their ``forward`` may
            differ; they are listed as skipped).
        target: the pybench module type it produces; modules already of this type are left
            alone, so converting twice is harmless.
        swap: builds the replacement from the (already BN-folded) module, sharing its
            parameters, on its device.
        check: returns why the module cannot be swapped, or None when it can.
        descend: when ``check`` refuses, convert the module's children instead of leaving
            the whole subtree PyTorch (block rules: a block that cannot be fused still gets
            its convolutions swapped one by one). The refusal is still reported.
    """

    name: str
    source: type[nn.Module]
    target: type[nn.Module]
    swap: Callable[[nn.Module], nn.Module]
    check: Callable[[nn.Module], str | None] = lambda module: None
    descend: bool = False


def _torchvision_rules() -> list[Rule]:
    # Imported here: pybench.nn.separable imports this module's neighbours (conv.py).
    from torchvision.models.mobilenetv2 import InvertedResidual as TorchInvertedResidual

    from pybench.nn import separable as sep
    return [Rule("mobilenet_v2_block", TorchInvertedResidual, sep.InvertedResidual,
                 sep.v2_block_to_inverted_residual, sep.v2_block_reason, descend=True)]


#: The default swap table, in priority order: block-level rules (a whole torchvision
#: MobileNet-v2 block as one fused op) before ``conv2d``; LSTMs match no other rule's type.
#: A list, so that model definitions can add their own blocks' rules (:func:`register_rule`)
#: without this package importing them.
RULES: list[Rule] = [
    *_torchvision_rules(),
    Rule("conv2d", nn.Conv2d, Conv2d, Conv2d.from_torch, conv2d_unsupported_reason),
    Rule("lstm", nn.LSTM, LSTM, LSTM.from_torch, lstm_unsupported_reason),
    Rule("lstm_cell", nn.LSTMCell, LSTMCell, LSTMCell.from_torch, lstm_cell_unsupported_reason),
]


def register_rule(rule: Rule) -> Rule:
    """Add ``rule`` to the default table ahead of the per-layer rules, as block rules must
    be. The rules beside a model's definition (``pybench.models.mobilenet``) register
    themselves this way; registering a second rule of the same name is an error."""
    if any(r.name == rule.name for r in RULES):
        raise ValueError(f"conversion rule {rule.name!r} registered twice")
    RULES.insert(0, rule)
    return rule


class ConversionMismatch(RuntimeError):
    """The converted model disagrees with the original on ``convert``'s ``example_inputs``."""


def convert(model: nn.Module, *, inplace: bool = False, rules: Sequence[Rule] | None = None,
            example_inputs: Sequence[Any] | None = None, rtol: float = 1e-4,
            choose: str | None = None, layout: str = "nchw", winograd: str = "auto",
            fuse_depthwise: str = "auto", fuse_pool: str = "auto") -> nn.Module:
    """A copy of ``model`` with its supported layers swapped for pybench's.

    Every ``nn.Conv2d`` whose configuration pybench supports (float32, ``padding_mode='zeros'``)
    becomes a :class:`pybench.nn.Conv2d` with the same weights, on the same device. In eval
    mode (``model.training`` False) a ``BatchNorm2d`` that directly follows a convolution is
    folded into it first and replaced by ``nn.Identity``; in training mode nothing is folded,
    since BatchNorm then normalises with batch statistics.

    Args:
        model: any module; it is not modified unless ``inplace``.
        inplace: convert ``model`` itself instead of a deep copy (when ``model`` is itself a
            swapped layer, the replacement is returned and ``model`` is left as it was).
        rules: the swap table (default :data:`RULES`).
        example_inputs: optional positional arguments of ``model``: when given, the
            converted model is run on them beside the original (under ``no_grad``) and
            every output tensor is compared.
        rtol: the largest relative error allowed there, ``||converted - original|| /
            ||original||`` per output tensor (default 1e-4, the cnn suite's tolerance:
            folding and another summation order change float32 rounding, not results).
        choose: which layers to swap. ``"measure"`` (the default when ``example_inputs`` are
            given): time pybench's layer and PyTorch's on the input each layer sees in the
            example run and keep the faster, recalled from an on-disk cache when this
            machine has measured the same layer and input before
            (:mod:`pybench.nn.choose`); a block whose fused form loses is converted layer by
            layer instead. ``"all"`` (the default without ``example_inputs``): swap every
            layer pybench supports. Choices are listed in ``pybench_report.choices``.
        layout: ``"nchw"`` (default): layers swapped in place, activations stay NCHW.
            ``"nchwc"``: the model is rewritten on its ``torch.fx`` graph so that activations
            stay in the blocked layout between pybench layers, with fused epilogues
            (:mod:`pybench.nn.blocked`); CPU inference only: needs eval mode and
            ``example_inputs`` (for the shapes), ignores ``rules`` and ``choose``, and lists
            every reorder in ``pybench_report.layout``. Returns a ``torch.fx.GraphModule``.
            ``"auto"``: both, timed against each other on ``example_inputs`` (interleaved
            medians), the faster kept; the times are in ``pybench_report.layout_choice``. A
            model the blocked rewrite cannot take (training mode, untraceable) gets the NCHW
            conversion, with the reason there.
        winograd: the blocked layout's 3x3, stride-1 convolutions: ``"auto"`` (default)
            times pybench's Winograd F(4x4, 3x3) kernel against its direct one per layer
            shape and keeps the faster (``pybench_report.choices``), ``"always"`` /
            ``"never"`` take or leave it. Winograd's float32 error is about 10x the direct
            kernel's (:mod:`pybench.ops.winograd_nchwc`), still within ``rtol``'s default.
        fuse_depthwise: the blocked layout's 1x1 -> depthwise pairs (an inverted residual's
            expand and depthwise): ``"auto"`` (default) times the pair fused -- one op, band
            by band of rows, so the expanded tensor stays in L2 -- against the two layers
            and keeps the faster; ``"always"`` / ``"never"``. Same results either way.
        fuse_pool: the blocked layout's direct convolution (with its activation) -> max
            pooling pairs (VGG's, AlexNet's): ``"auto"`` (default) times the pair fused --
            one op, band by band of pooled rows, so the convolution's output stays in L2 --
            against the two layers and keeps the faster; ``"always"`` / ``"never"``. A
            convolution that chose Winograd is not fused. Same results either way.

    Returns:
        The converted model. Its ``pybench_report`` attribute is a :class:`ConversionReport`
        listing the swapped layers, the folded BatchNorms, and every layer left as PyTorch
        with the reason.

    Raises:
        ConversionMismatch: the outputs on ``example_inputs`` differ by more than ``rtol``;
            the message names the output, the element with the largest difference and both
            values.
    """
    if layout not in ("nchw", "nchwc", "auto"):
        raise ValueError(f"pybench.nn.convert: layout must be 'nchw', 'nchwc' or 'auto', got "
                         f"{layout!r}")
    if layout == "nchwc":
        return _convert_nchwc(model, example_inputs, rtol, winograd, fuse_depthwise, fuse_pool)
    if layout == "auto":
        if example_inputs is None:
            raise ValueError("pybench.nn.convert: layout='auto' needs example_inputs to time")
        # The blocked rewrite first: it copies the model, which an in-place NCHW conversion
        # would already have changed.
        try:
            nchwc, error = _convert_nchwc(model, example_inputs, rtol, winograd,
                                          fuse_depthwise, fuse_pool), None
        except ConversionMismatch:
            raise
        except Exception as exc:  # noqa: BLE001 -- untraceable, training mode: say why
            nchwc, error = None, f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
        nchw = convert(model, inplace=inplace, rules=rules, example_inputs=example_inputs,
                       rtol=rtol, choose=choose, layout="nchw")
        if nchwc is None:
            nchw.pybench_report.layout_choice = {"nchwc_error": error, "chosen": "nchw"}
            return nchw
        inputs = tuple(example_inputs)
        device = next((t.device for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)),
                      torch.device("cpu"))
        with torch.inference_mode():
            times = choose_time({"nchwc": lambda: nchwc(*inputs), "nchw": lambda: nchw(*inputs)},
                                device)
        chosen = nchwc if times["nchwc"] <= times["nchw"] else nchw
        chosen.pybench_report.layout_choice = {
            "nchwc_s": times["nchwc"], "nchw_s": times["nchw"],
            "chosen": "nchwc" if chosen is nchwc else "nchw"}
        return chosen
    original = model
    if not inplace:
        model = copy.deepcopy(model)
    elif example_inputs is not None:
        original = copy.deepcopy(model)  # the reference must not be converted with it
    choose = choose or ("measure" if example_inputs is not None else "all")
    if choose not in ("measure", "all"):
        raise ValueError(f"pybench.nn.convert: choose must be 'measure' or 'all', got {choose!r}")
    if choose == "measure" and example_inputs is None:
        raise ValueError("pybench.nn.convert: choose='measure' needs example_inputs to time")
    rules = RULES if rules is None else rules
    report = ConversionReport()
    if not model.training:
        fold_batchnorm(model, report)
    decide = None
    if choose == "measure":
        chooser = Chooser()
        seen = _layer_inputs(model, rules, tuple(example_inputs))

        def decide(path: str, rule: Rule, layer: nn.Module, replacement: nn.Module) -> bool:
            if path not in seen:
                return True  # not reached by the example run: the heuristic
            choice = chooser.choose(path, rule.name, layer, replacement, seen[path])
            report.choices.append(choice)
            return choice.chosen == "pybench"
    model = _swap(model, "", rules, report, decide)
    if decide is not None:
        chooser.save()
    model.pybench_report = report
    if example_inputs is not None:
        report.verified_error = _verify(original, model, tuple(example_inputs), rtol)
    return model


def _convert_nchwc(model: nn.Module, example_inputs: Sequence[Any] | None, rtol: float,
                   winograd: str = "auto", fuse_depthwise: str = "auto",
                   fuse_pool: str = "auto") -> nn.Module:
    if example_inputs is None:
        raise ValueError("pybench.nn.convert: layout='nchwc' needs example_inputs (the graph's "
                         "shapes come from one run)")
    if model.training:
        raise ValueError("pybench.nn.convert: layout='nchwc' is for inference; call "
                         "model.eval() first")
    report = ConversionReport()
    folded = fold_batchnorm(copy.deepcopy(model), report)
    if report.not_folded is not None:
        raise ValueError(f"pybench.nn.convert: layout='nchwc' needs a torch.fx graph of the "
                         f"model: {report.not_folded}")
    with torch.no_grad():
        converted = convert_blocked(folded, tuple(example_inputs), report, winograd=winograd,
                                    fuse_depthwise=fuse_depthwise, fuse_pool=fuse_pool)
    converted.pybench_report = report
    report.verified_error = _verify(model, converted, tuple(example_inputs), rtol)
    return converted


def _verify(original: nn.Module, converted: nn.Module, inputs: tuple, rtol: float) -> float:
    """The largest relative error over the outputs of both models on ``inputs``; raises
    :class:`ConversionMismatch` past ``rtol`` or when the outputs' structure differs."""
    with torch.no_grad():
        want, want_spec = tree_flatten(original(*inputs))
        got, got_spec = tree_flatten(converted(*inputs))
    if want_spec != got_spec:
        raise ConversionMismatch(f"pybench.nn.convert: the converted model returns "
                                 f"{got_spec}, the original {want_spec}")
    worst = 0.0
    for i, (w, g) in enumerate(zip(want, got)):
        if not isinstance(w, torch.Tensor):
            if w != g:
                raise ConversionMismatch(f"pybench.nn.convert: output {i} is {g!r}, the "
                                         f"original's {w!r}")
            continue
        if w.shape != g.shape:
            raise ConversionMismatch(f"pybench.nn.convert: output {i} has shape "
                                     f"{tuple(g.shape)}, the original's {tuple(w.shape)}")
        w64, g64 = w.detach().double().cpu(), g.detach().double().cpu()
        diff = (g64 - w64).abs()
        # NaN where the original has NaN is agreement, as torch.testing treats it.
        diff = torch.where(torch.isnan(w64) & torch.isnan(g64), 0.0, diff)
        diff = torch.where(torch.isinf(w64) & (w64 == g64), 0.0, diff)
        norm = torch.linalg.vector_norm(torch.nan_to_num(w64, nan=0.0, posinf=0.0, neginf=0.0))
        total = torch.linalg.vector_norm(diff)
        error = (total / norm).item() if norm > 0 else (0.0 if total == 0 else math.inf)
        if not error <= rtol:  # also catches NaN
            at = int(torch.nan_to_num(diff, nan=math.inf).argmax()) if diff.numel() else 0
            index = tuple(int(j) for j in torch.unravel_index(torch.tensor(at), diff.shape))
            raise ConversionMismatch(
                f"pybench.nn.convert: the converted model disagrees with the original on "
                f"example_inputs: output {i} has relative error {error:.3g} > rtol {rtol:g}; "
                f"largest difference {diff[index].item():.6g} at index {index} (original "
                f"{w64[index].item():.7g}, converted {g64[index].item():.7g})")
        worst = max(worst, error)
    return worst


def _layer_inputs(model: nn.Module, rules: Sequence[Rule], inputs: tuple) -> dict[str, tuple]:
    """The positional arguments of every module a rule could swap, from one run of
    ``model`` on ``inputs`` (the first call where a module runs more than once)."""
    sources = {rule.source for rule in rules}
    seen: dict[str, tuple] = {}
    hooks = []
    for name, m in model.named_modules():
        if type(m) in sources:
            def hook(mod, args, name=name):
                seen.setdefault(name, tuple(a.detach().clone() if isinstance(a, torch.Tensor)
                                            else a for a in args))
            hooks.append(m.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _swap(module: nn.Module, path: str, rules: Sequence[Rule], report: ConversionReport,
          decide: Callable[[str, Rule, nn.Module, nn.Module], bool] | None = None) -> nn.Module:
    """``module`` or its replacement, after swapping inside its subtree. ``decide`` (the
    measured choice) may keep a supported layer as PyTorch."""
    for rule in rules:
        if type(module) is rule.target:
            return module
        if type(module) is rule.source:
            reason = rule.check(module)
            replacement = None
            if reason is None:
                replacement = rule.swap(module)
                if decide is not None and not decide(path, rule, module, replacement):
                    reason = "measured slower than PyTorch on this machine (see choices)"
                    replacement = None
            if reason is not None:
                report.skipped.append(Skipped(path, reason))
                if rule.descend:
                    break
                return module
            report.converted.append(Converted(path, rule.name))
            return replacement
    for rule in rules:
        if type(module) is rule.source:
            break  # refused by a descending rule: its children are converted below
        if isinstance(module, rule.source) and not isinstance(module, rule.target):
            report.skipped.append(Skipped(path, f"{type(module).__qualname__} subclasses "
                                                f"{rule.source.__qualname__}; its forward may "
                                                f"differ"))
            return module
    for name, child in module.named_children():
        new = _swap(child, f"{path}.{name}" if path else name, rules, report, decide)
        if new is not child:
            setattr(module, name, new)
    return module


# --- BatchNorm folding -----------------------------------------------------------------------

def _conv_bn_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """(conv path, bn path) of every BatchNorm2d whose only input is a Conv2d's only use,
    in the traced graph of ``module``; raises whatever stops ``torch.fx`` tracing it."""
    graph = _Tracer().trace(module)
    modules = {n.target: module.get_submodule(n.target) for n in graph.nodes
               if n.op == "call_module"}
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        src = node.args[0] if len(node.args) == 1 and not node.kwargs else None
        if (isinstance(src, fx.Node) and src.op == "call_module"
                and isinstance(modules[src.target], nn.Conv2d) and len(src.users) == 1
                and calls[src.target] == 1 and calls[node.target] == 1):
            pairs.append((src.target, node.target))
    return pairs


def _fold_reason(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> str | None:
    if type(conv) not in (nn.Conv2d, Conv2d):
        return f"{type(conv).__qualname__} subclasses Conv2d; its forward may differ"
    if type(bn) is not nn.BatchNorm2d:
        return f"{type(bn).__qualname__} is not a plain BatchNorm2d"
    if bn.training:
        return "BatchNorm2d in training mode (normalises with batch statistics)"
    if bn.running_mean is None or bn.running_var is None:
        return "BatchNorm2d without running statistics (normalises with batch statistics)"
    if bn.num_features != conv.out_channels:
        return f"BatchNorm2d of {bn.num_features} features after {conv.out_channels} channels"
    if isinstance(conv.weight, nn.parameter.UninitializedParameter):
        return "lazy convolution: its weight is not materialised yet"
    return None


def fold_batchnorm(model: nn.Module, report: ConversionReport | None = None) -> nn.Module:
    """Fold, in place, every BatchNorm2d that directly follows a Conv2d in ``model`` into it.

    The BatchNorm is replaced by ``nn.Identity``; the convolution gets the folded weight and
    a bias (created if it had none). Only pairs the ``torch.fx`` graph of ``model`` proves are
    folded: none when ``model`` cannot be traced (``report.not_folded`` says why). A module
    reached by two paths, or called twice, is left alone. Meant for eval mode: the caller
    checks ``model.training``. Appends to ``report`` when given; returns ``model``.
    """
    report = ConversionReport() if report is None else report
    try:
        pairs = _conv_bn_pairs(model)
    except Exception as exc:  # noqa: BLE001 -- any Python a forward may run can stop tracing
        if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
            report.not_folded = (f"torch.fx cannot trace the model ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}), so no "
                                 f"conv -> BatchNorm edge is proven; layers are swapped one "
                                 f"by one")
        return model
    # A module reachable by two paths may run in two places; folding would change both.
    uses: dict[int, int] = {}
    for _, m in model.named_modules(remove_duplicate=False):
        uses[id(m)] = uses.get(id(m), 0) + 1
    for conv_path, bn_path in pairs:
        conv, bn = model.get_submodule(conv_path), model.get_submodule(bn_path)
        reason = _fold_reason(conv, bn)
        if reason is None and (uses[id(conv)] > 1 or uses[id(bn)] > 1):
            reason = "module shared between several places of the model"
        if reason is not None:
            report.skipped.append(Skipped(bn_path, f"not folded into {conv_path}: {reason}"))
            continue
        _fold_into(conv, bn)
        parent, _, name = bn_path.rpartition(".")
        setattr(model.get_submodule(parent), name, nn.Identity())
        report.folded.append(Folded(conv_path, bn_path))
    return model


@torch.no_grad()
def _fold_into(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    # Per-channel terms in float64, so the folded weight and bias are each rounded once more
    # than the original's; the weight itself is scaled in its own dtype (it dominates the time).
    scale, shift = batchnorm_affine(bn)
    bias = (conv.bias.detach().to(torch.float64) if conv.bias is not None
            else torch.zeros_like(scale))
    dtype, requires_grad = conv.weight.dtype, conv.weight.requires_grad
    weight = conv.weight * scale.to(dtype).reshape(-1, *([1] * (conv.weight.dim() - 1)))
    conv.weight = nn.Parameter(weight, requires_grad=requires_grad)
    conv.bias = nn.Parameter((bias * scale + shift).to(dtype), requires_grad=requires_grad)
