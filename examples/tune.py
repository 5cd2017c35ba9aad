"""One trial of a hyperparameter sweep: train a small model for one (C, gamma) and score it.

Run it once, or let Optuna drive it (each trial is a whole flow run):

    rayflow run examples/tune.py --C 3 --gamma 0.01
    rayflow sweep examples/tune.py --space C=float:0.01:100:log --space gamma=float:1e-4:1:log \\
        --objective accuracy --direction maximize --trials 40 --concurrency 2 --pruner median
    rayflow sweep show TuneFlow

``current.report`` hands Optuna an intermediate score (here: after each fold), so a pruner can stop
a hopeless trial early; outside a sweep it does nothing. Needs the ``[examples]`` extra.
"""

from rayflow import FlowSpec, Parameter, current, step


class TuneFlow(FlowSpec):
    C = Parameter("C", default=1.0, help="SVM regularisation.")
    gamma = Parameter("gamma", default=0.01, help="RBF kernel width.")
    folds = Parameter("folds", default=3, help="Cross-validation folds.")

    @step
    def start(self):
        from sklearn.datasets import load_digits

        self.x, self.y = load_digits(return_X_y=True)
        self.x = self.x / 16.0
        self.next(self.train)

    @step
    def train(self):
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        scores = []
        split = StratifiedKFold(n_splits=int(self.folds), shuffle=True, random_state=0)
        for fold, (train, test) in enumerate(split.split(self.x, self.y)):
            model = SVC(C=self.C, gamma=self.gamma).fit(self.x[train], self.y[train])
            scores.append(float(model.score(self.x[test], self.y[test])))
            current.report(sum(scores) / len(scores), step=fold)
        self.accuracy = sum(scores) / len(scores)
        self.next(self.end)

    @step
    def end(self):
        print(f"C={self.C:g} gamma={self.gamma:g}: accuracy {self.accuracy:.4f}")


if __name__ == "__main__":
    TuneFlow()
