"""How hard the SYNTHETIC DEAP subjects are: the calibration of cnnkit.data.deap.synthetic_subject.

For each of N synthetic subjects (seeds 101, 102, ...): baseline-corrected DE grids, then an RBF
SVM (cnnkit.evaluation.svm_classifier) with 10 trial-grouped folds and with 10 random segment
folds, high vs low valence. Prints each subject, the mean and spread of both protocols and the
targets they should meet (deap_synthetic.CALIBRATION_TARGETS, from LibEER's trial-split figures on real
DEAP and the papers' segment-level ones), and the same for the null model (no emotion in the
signals). Usage: python bench/deap_calibration.py [subjects, default 8]
"""

import os
import platform
import sys
import time

import numpy as np

from cnnkit import evaluation
from cnnkit.data import deap, deap_synthetic, eeg_features


def scores(data, ratings, svm):
    x = eeg_features.to_grid(eeg_features.de_features(data[:, :32])).reshape(-1, 9, 9, 4)
    y = np.repeat(deap.binary_labels(ratings), 60)
    trials = np.repeat(np.arange(40), 60)
    grouped = evaluation.cross_validate(svm, x, y, evaluation.grouped_folds(trials, y, n_splits=10))
    random_split = evaluation.cross_validate(svm, x, y, evaluation.segment_folds(y, n_splits=10))
    return grouped["accuracy"].mean(), random_split["accuracy"].mean()


def main(subjects: int = 8):
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; {subjects} SYNTHETIC subjects, RBF SVM, 10 folds")
    svm = evaluation.svm_classifier()
    for label, effect in (("calibrated model", deap_synthetic.EMOTION_EFFECT), ("null model (no emotion)", 0.0)):
        rows = []
        started = time.perf_counter()
        for seed in range(101, 101 + subjects):
            rows.append(scores(*deap_synthetic.synthetic_subject(seed, emotion_effect=effect), svm))
            print(f"  {label}, seed {seed}: trial-grouped {rows[-1][0]:.3f}, random segment {rows[-1][1]:.3f}")
        grouped, random_split = np.array(rows).T
        print(f"{label}: trial-grouped folds {grouped.mean():.3f} +/- {grouped.std():.3f}, random segment folds "
              f"{random_split.mean():.3f} +/- {random_split.std():.3f} ({time.perf_counter() - started:.0f} s)")
    for protocol, (low, high) in deap_synthetic.CALIBRATION_TARGETS.items():
        print(f"target, {protocol}: {low:.2f} .. {high:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
