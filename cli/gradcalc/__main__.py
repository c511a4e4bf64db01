"""The `gradcalc` command (its console script) and `python -m gradcalc`."""
import gc


def main() -> None:
    """The command line, imported with the cycle collector off: Click's import makes tens
    of thousands of objects, all kept to the end, and collecting while they are made only
    walks them again and again. The stages that build big graphs pause it themselves
    (gradcalc.collector); a long `gradcalc batch` runs with it on."""
    gc.disable()
    from .cli import main as command_line

    gc.enable()
    command_line()


if __name__ == "__main__":
    main()
