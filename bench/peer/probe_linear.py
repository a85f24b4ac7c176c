#!/usr/bin/python3
"""Linear probe for bench:int8: logistic regression (scikit-learn, standardised features) on
several feature files over the same rows and split; C chosen on the validation rows, accuracy
reported on the test rows. Args: Y.npy SPLIT.npy (0 train, 1 val, 2 test) NAME=X.npy ... ; one JSON line."""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

argv = sys.argv[1:]
if "--threads" in argv:  # used by the caller to pin BLAS threads; nothing to do here
    i = argv.index("--threads")
    del argv[i : i + 2]
y = np.load(argv[0]).astype(int)
split = np.load(argv[1]).astype(int)
tr, va, te = split == 0, split == 1, split == 2
out = {}
for arg in argv[2:]:
    name, path = arg.split("=", 1)
    x = np.load(path)
    sc = StandardScaler().fit(x[tr])
    best = None
    for c in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        m = LogisticRegression(C=c, max_iter=3000).fit(sc.transform(x[tr]), y[tr])
        v = m.score(sc.transform(x[va]), y[va])
        if best is None or v > best[0]:
            best = (v, c, m.score(sc.transform(x[te]), y[te]))
    out[name] = {"val": best[0], "C": best[1], "test": best[2]}
out["n"] = {"train": int(tr.sum()), "val": int(va.sum()), "test": int(te.sum())}
print(json.dumps(out))
