"""DEAP's facts (Koelstra et al., 2012), in one leaf module that imports nothing: the recording
(channels, sampling rate, trial sizes), the ratings, the 9x9 scalp grid of its 32 electrodes, and
the frequency bands of the EEG literature keyed by name. The reader (:mod:`cnnkit.data.deap`), the
features (:mod:`cnnkit.data.eeg_features`) and the synthetic generator
(:mod:`cnnkit.data.deap_synthetic`) all read them from here.
"""

SUBJECTS = 32  # people recorded, files s01.dat ... s32.dat
SAMPLING_RATE = 128  # Hz
TRIALS, CHANNELS, SAMPLES = 40, 40, 8064
BASELINE_SECONDS = 3
RATINGS = ("valence", "arousal", "dominance", "liking")
EEG_CHANNELS = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz",
    "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
)  # fmt: skip
QUADRANTS = ("HVHA", "HVLA", "LVHA", "LVLA")
# A subject file holds 40x40x8064 float64 signals (103 MB) and 40x4 ratings; a file or its
# arrays may not be much larger (checked before reading / before allocating).
MAX_FILE_BYTES = 200 << 20
MAX_ARRAY_BYTES = TRIALS * CHANNELS * SAMPLES * 8 + TRIALS * 4 * 8

# The frequency bands (Hz, lower edge included, upper excluded) of the DE features, by name.
BANDS = {"theta": (4.0, 8.0), "alpha": (8.0, 14.0), "beta": (14.0, 31.0), "gamma": (31.0, 45.0)}

# The 10-20 positions of DEAP's 32 electrodes on a 9x9 grid, row by row from the forehead
# (row 0) to the back of the head (row 8), left ear (column 0) to right ear (column 8); "-"
# marks a cell without an electrode.
GRID_LAYOUT = (
    ("-",   "-",   "-",   "Fp1", "-",   "Fp2", "-",   "-",   "-"),
    ("-",   "-",   "-",   "AF3", "-",   "AF4", "-",   "-",   "-"),
    ("F7",  "-",   "F3",  "-",   "Fz",  "-",   "F4",  "-",   "F8"),
    ("-",   "FC5", "-",   "FC1", "-",   "FC2", "-",   "FC6", "-"),
    ("T7",  "-",   "C3",  "-",   "Cz",  "-",   "C4",  "-",   "T8"),
    ("-",   "CP5", "-",   "CP1", "-",   "CP2", "-",   "CP6", "-"),
    ("P7",  "-",   "P3",  "-",   "Pz",  "-",   "P4",  "-",   "P8"),
    ("-",   "-",   "-",   "PO3", "-",   "PO4", "-",   "-",   "-"),
    ("-",   "-",   "-",   "O1",  "Oz",  "O2",  "-",   "-",   "-"),
)  # fmt: skip
GRID_POSITIONS = {name: (row, col) for row, cells in enumerate(GRID_LAYOUT)
                  for col, name in enumerate(cells) if name != "-"}  # fmt: skip
