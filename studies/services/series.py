"""The series is the case: ordering a case's slices and choosing the one that is graded.

A case (:class:`studies.models.Image`) is one hip series; its :class:`studies.models.Slice`
rows are ordered into a stack, and one of them is **designated**: the readers' answer grades it
and the model is given it, and the case carries its file and pixel fields. How the stack is
ordered: by position along the slice normal (Image Position/Orientation Patient) when every
slice has one, else by Instance Number when every slice has one, else in order of arrival; ties
by Instance Number, frame, arrival.

Which slice is designated: by default the middle of the stack (index ``(n - 1) // 2``: for a
coronal series, the mid-coronal slice), re-chosen when more slices of the series arrive; or the
slice a manifest (``designated`` column) or a coordinator chose, which stays designated whatever
arrives. Once a case is in a reading session or has a model prediction, its designated slice
never changes: the answers and the outputs already given are about that slice. The stack may
still grow (a late file of the series is kept and can be scrolled to).
"""

from __future__ import annotations

from django.db import transaction

from studies.models import Image, PixelFields, Slice

_FILE_FIELDS = ("file", "array_file", "mask_file")


class DesignationError(ValueError):
    """The designated slice cannot be changed; the message says why, for a coordinator."""


def middle_index(n: int) -> int:
    """The designated index by default: the middle of ``n`` slices (the lower of two)."""
    return max(0, (n - 1) // 2)


def stack_order(slices: list[Slice]) -> list[Slice]:
    """``slices`` in stack order (see the module's docstring); ``pk`` stands for arrival, and a
    slice not saved yet comes after the saved ones in the order given."""
    arrival = {id(s): (s.pk is None, s.pk or 0, i) for i, s in enumerate(slices)}

    def tie(s: Slice) -> tuple:
        number = s.instance_number if s.instance_number is not None else 0
        return (number, s.frame, arrival[id(s)])

    if slices and all(s.position is not None for s in slices):
        return sorted(slices, key=lambda s: (s.position, *tie(s)))
    if slices and all(s.instance_number is not None for s in slices):
        return sorted(slices, key=tie)
    return sorted(slices, key=lambda s: arrival[id(s)])


def case_is_frozen(image: Image) -> str | None:
    """Why the case's designated slice can no longer change (in words), or ``None``.

    Asked through reverse relations (session cases of the reading app, predictions of the
    inference app) so that the study domain imports neither."""
    if Image.objects.filter(pk=image.pk, session_items__isnull=False).exists():
        return f"case {image.pk} is in a reading session"
    if Image.objects.filter(pk=image.pk, predictions__isnull=False).exists():
        return f"case {image.pk} has model predictions"
    return None


def slice_values(chosen: Slice) -> dict:
    """The fields a case copies from its designated slice (file fields by name)."""
    values = {name: getattr(chosen, name) for name in PixelFields.COPIED}
    for name in _FILE_FIELDS:
        values[name] = values[name].name or ""
    return values


def copy_slice_fields(image: Image, chosen: Slice) -> list[str]:
    """Give the case the chosen slice's file and pixel fields; the names that changed."""
    changed = []
    for name, value in slice_values(chosen).items():
        current = getattr(image, name)
        if name in _FILE_FIELDS:
            current = current.name or ""
        if current != value:
            setattr(image, name, value)
            changed.append(name)
    return changed


def _current_slice(image: Image, stack: list[Slice]) -> Slice | None:
    for s in stack:
        if s.content_hash == image.content_hash and s.frame == image.frame:
            return s
    return None


def _locked_stack(image: Image) -> tuple[Image, list[Slice]]:
    """The case's row, locked, and its slices in stack order, numbered 0..n-1."""
    image = Image.objects.select_for_update(of=("self",)).get(pk=image.pk)
    stack = stack_order(list(Slice.objects.filter(image=image)))
    moved = []
    for index, s in enumerate(stack):
        if s.index != index:
            s.index = index
            moved.append(s)
    if moved:
        Slice.objects.bulk_update(moved, ["index"])
    return image, stack


def _point_at(image: Image, chosen: Slice, *also: str) -> None:
    """Make ``chosen`` the case's designated slice; save what changed (and ``also``)."""
    changed = copy_slice_fields(image, chosen)
    if image.designated_index != chosen.index:
        image.designated_index = chosen.index
        changed.append("designated_index")
    changed.extend(also)
    if changed:
        image.save(update_fields=changed)


def restack(image: Image) -> Image:
    """Order the case's slices, number them, and (re)designate: the middle slice for a case
    designated by default and not frozen, else the slice it had. Locks the case's row; call
    inside a transaction or alone (it opens one)."""
    with transaction.atomic():
        image, stack = _locked_stack(image)
        if not stack:
            return image
        current = _current_slice(image, stack)
        if image.designation == Image.Designation.MIDDLE and (
            current is None or case_is_frozen(image) is None
        ):
            chosen = stack[middle_index(len(stack))]
        else:
            chosen = current or stack[middle_index(len(stack))]
        _point_at(image, chosen)
    return image


def designate_slice(*, image: Image, index: int, by: str = Image.Designation.COORDINATOR) -> Image:
    """Make the slice at ``index`` (0-based, stack order) the graded one.

    Raises
    ------
    DesignationError
        The index is outside the stack, or the case is frozen (in a reading session or
        predicted), unless the slice asked for is the one already designated.
    """
    with transaction.atomic():
        image, stack = _locked_stack(image)
        if not 0 <= index < len(stack):
            raise DesignationError(
                f"case {image.pk} has {len(stack)} slice(s): slice {index + 1} does not exist"
            )
        chosen = stack[index]
        if _current_slice(image, stack) is not chosen:
            frozen = case_is_frozen(image)
            if frozen:
                raise DesignationError(
                    f"{frozen}: the slice it is graded on can no longer change"
                )
        image.designation = by
        _point_at(image, chosen, "designation")
    return image
