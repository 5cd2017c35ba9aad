"""Train and score one small model per hyperparameter setting, in parallel, and keep the best.

An SVM on scikit-learn's bundled digits dataset (no download), over a grid of C x gamma values:
the foreach runs one task per setting. Needs the ``[examples]`` extra (scikit-learn).

    rayflow run examples/train_sweep.py                    # 100 settings
    rayflow run examples/train_sweep.py --settings 20
    rayflow timeline TrainSweep -o sweep.html              # how parallel it was

The flow uses only names Metaflow also has, so changing the import line to ``from metaflow import
...`` runs it on Metaflow too (``benchmarks/ml_flow.py`` does exactly that).
"""

from rayflow import FlowSpec, Parameter, step


class TrainSweep(FlowSpec):
    settings = Parameter(
        "settings", default=100, help="How many (C, gamma) settings to try (<= 100)."
    )
    seed = Parameter("seed", default=0, help="Seed of the train/test split.")

    @step
    def start(self):
        """Load the data once, split it, and lay out the grid."""
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(
            x / 16.0, y, test_size=0.3, random_state=self.seed, stratify=y
        )
        grid = [(10 ** (c / 3 - 1), 10 ** (g / 3 - 4)) for c in range(10) for g in range(10)]
        self.grid = grid[: int(self.settings)]
        self.next(self.train, foreach="grid")

    @step
    def train(self):
        """Fit one SVM and score it on the held-out split."""
        from sklearn.svm import SVC

        self.c, self.gamma = self.input
        model = SVC(C=self.c, gamma=self.gamma).fit(self.x_train, self.y_train)
        self.accuracy = float(model.score(self.x_test, self.y_test))
        self.next(self.join)

    @step
    def join(self, inputs):
        """Keep every score and the best setting."""
        self.scores = sorted(((i.accuracy, i.c, i.gamma) for i in inputs), reverse=True)
        self.best_accuracy, self.best_c, self.best_gamma = self.scores[0]
        self.next(self.end)

    @step
    def end(self):
        print(
            f"best: C={self.best_c:.4g} gamma={self.best_gamma:.4g} "
            f"accuracy={self.best_accuracy:.4f} ({len(self.scores)} settings)"
        )


if __name__ == "__main__":
    TrainSweep()
