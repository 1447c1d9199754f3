"""The shared convention of the checkers: calling the reader, converting, comparing."""

from __future__ import annotations

import pytest
import torch

from ddpm_tutorial.checks._common import (
    StandInMisuse,
    as_scalar,
    as_tensor,
    call_reader,
    compare,
)


# ---------------------------------------------------------------------------- call_reader
def test_call_reader_names_an_exception_of_the_readers_code():
    def broken(x):
        raise KeyError("boom")

    with pytest.raises(
        AssertionError, match="^check_x failed: calling your function raised KeyError"
    ):
        call_reader("check_x", broken, torch.zeros(2, 3))


def test_call_reader_explains_a_per_example_value_that_was_not_reshaped():
    x = torch.zeros(5, 1, 3, 3)
    with pytest.raises(AssertionError) as info:
        call_reader("check_x", lambda x, t: torch.ones(5) * x, x, torch.arange(5))
    message = str(info.value)
    assert message.startswith("check_x failed: a per-example value of shape (B,) = (5,) must be ")
    assert (
        "reshaped to (B, 1, 1, 1) before it multiplies an image batch of shape (5, 1, 3, 3)"
        in message
    )
    assert "\n" not in message


def test_call_reader_explains_the_missing_reshape_for_a_batch_of_vectors_too():
    with pytest.raises(AssertionError, match=r"reshaped to \(B, 1\) before it multiplies a batch"):
        call_reader("check_x", lambda x: torch.ones(4) * x, torch.zeros(4, 3))


def test_call_reader_reports_other_shape_errors_as_they_are():
    x = torch.zeros(5, 1, 3, 3)
    with pytest.raises(AssertionError, match="raised RuntimeError: The size of tensor a") as info:
        call_reader("check_x", lambda x: x + torch.zeros(2), x)
    assert "per-example" not in str(info.value)


def test_call_reader_passes_on_the_sentence_of_a_misused_stand_in():
    def misuse():
        raise StandInMisuse("the model must be called with an int64 t")

    with pytest.raises(AssertionError, match="^check_x failed: the model must be called"):
        call_reader("check_x", misuse)


# ---------------------------------------------------------------------------- conversion
def test_as_tensor_takes_tensors_numbers_and_the_first_item_of_a_tuple():
    assert as_tensor("c", torch.ones(2, dtype=torch.float16), "x").dtype == torch.float64
    assert as_tensor("c", [1, 2], "x").tolist() == [1.0, 2.0]
    assert as_tensor("c", (torch.ones(3), "x0"), "x", first_of_tuple=True).shape == (3,)
    with pytest.raises(AssertionError, match="^c failed: x must be a tensor; got object"):
        as_tensor("c", object(), "x")


def test_as_scalar_wants_a_single_number():
    assert float(as_scalar("c", torch.tensor([2.5]), "the loss")) == 2.5
    with pytest.raises(AssertionError, match="single number"):
        as_scalar("c", torch.zeros(3), "the loss")
    with pytest.raises(AssertionError, match="must be a number; got str"):
        as_scalar("c", "1.0", "the loss")


# ---------------------------------------------------------------------------- compare
def test_compare_accepts_a_result_within_tolerance():
    compare("c", torch.ones(3) + 1e-7, torch.ones(3), "x")


def test_compare_names_the_largest_difference_and_every_matching_mistake():
    expected = torch.arange(6.0).reshape(2, 3)
    mistakes = [(2 * expected, "It is doubled."), (expected + 1, "It is shifted.")]
    with pytest.raises(AssertionError) as info:
        compare("c", 2 * expected, expected, "x", mistakes=mistakes, hint="unused")
    assert str(info.value) == (
        "c failed: x differs from the reference by up to 5 (at index (1, 2): yours 10, "
        "expected 5). It is doubled."
    )


def test_compare_falls_back_on_the_hint_and_names_shapes_and_numbers():
    with pytest.raises(AssertionError, match=r"by up to 3 .* Look again\.$"):
        compare("c", torch.zeros(2), torch.tensor([0.0, 3.0]), "x", hint="Look again.")
    with pytest.raises(AssertionError, match=r"x has shape \(2,\); expected \(3,\)\.$"):
        compare("c", torch.zeros(2), torch.zeros(3), "x")
    with pytest.raises(AssertionError, match=r"the loss is 2; the reference gives 1\. Sum\.$"):
        compare("c", torch.tensor(2.0), torch.tensor(1.0), "the loss", mistakes=[(2.0, "Sum.")])
