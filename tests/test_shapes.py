import pytest

from pybench import shapes


def test_shipped_files_parse():
    assert {"gram", "gram_style"} <= set(shapes.available())
    grid = shapes.load("gram")
    assert len(grid) == 20  # C in {64, 128, 256, 512} x H*W in {196, 784, 3136, 12544, 50176}
    assert all(s.as_dict().keys() == {"N", "C", "H", "W"} for s in grid)


def test_style_repeats_names_with_different_batch():
    style = shapes.load("gram_style")
    assert len(style) == 10
    assert len({s.label for s in style}) == 10
    conv1 = [s for s in style if s.name == "vgg19:conv1_1"]
    assert [s["N"] for s in conv1] == [1, 4]
    assert conv1[1].label == "vgg19:conv1_1/N:4/C:64/H:400/W:400"


def test_parse_comments_blank_lines_and_order():
    text = "# header\n\nnet:a N=2 C=3  # trailing\n  net:b C=5 L=7\n"
    a, b = shapes.parse(text)
    assert a == shapes.Shape("net:a", (("N", 2), ("C", 3)))
    assert b.sizes == (("C", 5), ("L", 7)) and b["L"] == 7 and b.get("N") is None
    with pytest.raises(KeyError):
        b["N"]


@pytest.mark.parametrize("line, message", [
    ("x N=1 C", "key=<non-negative int>"),
    ("x N=one", "key=<non-negative int>"),
    ("x N=-1", "key=<non-negative int>"),
    ("x N=1 N=2", "given twice"),
])
def test_parse_errors_name_the_line(line, message):
    with pytest.raises(ValueError, match=f"f.txt:2: .*{message}"):
        shapes.parse("# ok\n" + line, source="f.txt")


def test_duplicate_case_rejected():
    with pytest.raises(ValueError, match="duplicate case"):
        shapes.parse("x N=1\nx N=1\n")


def test_unknown_file():
    with pytest.raises(KeyError, match="available"):
        shapes.load("no_such_shapes")


def test_load_by_path(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("m C=4 L=9\n")
    assert shapes.load(path)[0].label == "m/C:4/L:9"
