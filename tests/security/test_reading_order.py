"""S6 (issue 15): a reader cannot predict their reading order. It used to come from a default
base seed (0), the reader's id and the session count, so a reader could rebuild it and, from
it, the import order of the cases (which site a case came from)."""

from __future__ import annotations

import pytest

from readers.services.reading import session_create, session_order
from studies.models import Image

pytestmark = pytest.mark.django_db


@pytest.fixture
def rs(small_reading_study):
    return small_reading_study


def _rebuilt_with_the_old_recipe(session, reader, ordinal, base=0):
    import numpy as np

    state = np.random.SeedSequence([base, reader.pk, ordinal]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def test_a_session_seed_is_secret_by_default_and_recorded(rs):
    alice = rs.users["alice"]
    seeds = set()
    for ordinal in range(1, 6):
        s = session_create(study=rs.study, reader=alice, name=f"round {ordinal}",
                           condition="unaided", override_reason="test: no washout")
        assert s.seed != _rebuilt_with_the_old_recipe(s, alice, ordinal)
        # recorded: the order is reproducible from the session's own seed
        ids = sorted(Image.objects.filter(session_items__session=s).values_list("id", flat=True))
        assert session_order(ids, seed=s.seed, randomise=True) == list(
            s.items.order_by("position").values_list("image_id", flat=True))
        seeds.add(s.seed)
    assert len(seeds) == 5


def test_a_given_base_seed_still_makes_orders_reproducible(rs):
    a = session_create(study=rs.study, reader=rs.users["bob"], name="r", condition="unaided",
                       base_seed=7, override_reason="test: no washout")
    # bob already has one session (the fixture's), so this is his ordinal 1
    assert a.seed == _rebuilt_with_the_old_recipe(a, rs.users["bob"], 1, base=7)
