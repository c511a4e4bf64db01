"""The `gradcalc` command (its console script) and `python -m gradcalc`."""
import gc


def main() -> None:
    """The command line, imported with the cycle collector off: Click's import makes tens
    of thousands of objects, all kept to the end, and collecting while they are made only
    walks them again and again. The command itself runs with it paused anyway
    (gradcalc.collector), and the process ends with the command."""
    gc.disable()
    from .cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
