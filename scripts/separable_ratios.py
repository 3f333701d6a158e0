"""pybench vs PyTorch on the MobileNet-v1/v2 pairs of shapes/separable.txt, interleaved in
one process: the numbers of notes/note-issue-5.md.

usage: [THREADS=2] [SINGLE=1] python scripts/separable_ratios.py dw|sep [isa] [batch] [models]

dw: pybench.ops.depthwise_conv2d vs F.conv2d(groups=C); sep: pybench.ops.separable_conv2d
vs PyTorch's dw -> act -> pw -> act. Default: rounds of `reps` calls of A then B, the
median of the per-round ratios and the ratio of the fastest rounds. SINGLE=1: 300
alternating single calls, the 25th percentiles' ratio ("median" column) and the minima's
-- on a host shared with other jobs the low end is the undisturbed time (interference only
ever slows a call down), and a single call is less often cut by a scheduler tick than a
round of many. Prints a line per layer and the geomeans.
"""
import time, statistics, sys, math, os
import torch, torch.nn.functional as F
import pybench.ops as ops
from pybench import shapes
import os
torch.set_num_threads(int(os.environ.get('THREADS','2')))
def t(fn, reps):
    s=time.perf_counter()
    for _ in range(reps): fn()
    return (time.perf_counter()-s)/reps
def bench_single(a, b, calls=300):
    """Alternating single calls; min and 25th percentile of each (interference only ever
    slows a call down, so the low end is the undisturbed time)."""
    for _ in range(3): a(); b()
    ta,tb=[],[]
    for _ in range(calls):
        s=time.perf_counter(); a(); ta.append(time.perf_counter()-s)
        s=time.perf_counter(); b(); tb.append(time.perf_counter()-s)
    ta.sort(); tb.sort(); q=calls//4
    return ta[q], tb[q], ta[q]/tb[q], ta[0]/tb[0], ta[0], tb[0]
if os.environ.get("SINGLE"): bench_single_mode=True
def bench(a, b, rounds=21):
    if os.environ.get("SINGLE"): return bench_single(a, b)
    for _ in range(3): a(); b()
    s=time.perf_counter(); a(); b(); el=time.perf_counter()-s
    reps=max(1,int(0.006/max(el,1e-7)))
    ta,tb,r=[],[],[]
    for _ in range(rounds):
        x=t(a,reps); y=t(b,reps); ta.append(x); tb.append(y); r.append(x/y)
    return statistics.median(ta), statistics.median(tb), statistics.median(r), min(ta)/min(tb), min(ta), min(tb)
mode = sys.argv[1] if len(sys.argv)>1 else "dw"
isa = sys.argv[2] if len(sys.argv)>2 else ops.cpu_isa()
batch = int(sys.argv[3]) if len(sys.argv)>3 else 1
only = sys.argv[4] if len(sys.argv)>4 else "mobilenet_v1,mobilenet_v2"
ops.set_cpu_isa(isa)
ACT={0:lambda t:t,1:F.relu,2:F.relu6}; NAME={0:"none",1:"relu",2:"relu6"}
ratios=[]; mins=[]
for s in shapes.load("separable"):
  if s.name.split(":")[0] not in only.split(","): continue
  d=s.as_dict(); c=d["C"]; m=d["M"]; k=d["K"]
  x=torch.randn(batch,c,d["H"],d["W"]); w=torch.randn(c*m,1,d["R"],d["S"]); b=torch.randn(c*m)
  st=(d["SH"],d["SW"]); pd=(d["PH"],d["PW"])
  if mode=="dw":
    pt,pb,r,rm,mt,mb=bench(lambda: F.conv2d(x,w,b,st,pd,1,c), lambda: ops.depthwise_conv2d(x,w,b,st,pd))
  else:
    pw=torch.randn(k,c*m,1,1)/ (c*m)**0.5; pwb=torch.randn(k); a1=ACT[d["A"]]; a2=ACT[d["PA"]]
    pt,pb,r,rm,mt,mb=bench(lambda: a2(F.conv2d(a1(F.conv2d(x,w,b,st,pd,1,c)),pw,pwb)),
                  lambda: ops.separable_conv2d(x,w,pw,b,pwb,st,pd,1,NAME[d["A"]],NAME[d["PA"]]))
  ratios.append(r); mins.append(rm)
  print(f"{s.name:42s} median: torch {pt*1e6:8.1f} us pybench {pb*1e6:8.1f} us x{r:.2f} | min: torch {mt*1e6:8.1f} pybench {mb*1e6:8.1f} x{rm:.2f}", flush=True)
g=lambda v: round(math.exp(sum(map(math.log,v))/len(v)),3)
print(mode, isa, "batch", batch, "threads", torch.get_num_threads(), "geomean of median paired ratios", g(ratios), "| geomean of min-time ratios", g(mins))
