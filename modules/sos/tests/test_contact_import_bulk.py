"""The CSV import at its documented limit: 10,000 rows in a bounded number of queries (bulk
writes), with the same matching rules as one contact at a time. Runs on SQLite and on
PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from modules.sos import services
from modules.sos.errors import CsvInvalid
from modules.sos.models import Contact, ContactMethod, Group

ROWS = 10_000
KNOWN = 200  # contacts that exist before the import
# ~8 queries a row before; now a few per batch of rows, whatever the row count. SQLite caps a
# batch at 999 variables (about 90 methods or 199 contacts per INSERT), PostgreSQL does not.
MAX_QUERIES = 420


def big_csv() -> str:
    lines = ["name,email,phone,webhook,groups,notes"]
    for i in range(ROWS):
        email = f"person{i}@example.com"
        if i < KNOWN:
            email = f"PERSON{i}@example.com;extra{i}@example.com"  # one known, one new
        lines.append(
            f"Person {i},{email},+1555{i:07d},,team{i % 20};all,row {i}"
            if i % 10
            else f"person {i},{email},,http://127.0.0.1:9/hook/{i},team{i % 20},row {i}"
        )
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.django_db
def test_ten_thousand_rows_import_in_a_bounded_number_of_queries(make_contact):
    for i in range(KNOWN):
        make_contact(f"Person {i}", email=f"person{i}@example.com", groups=["team0"])
    data = big_csv()
    with CaptureQueriesContext(connection) as queries:
        report = services.contact_import_csv(data=data)
    print(f"{ROWS} rows: {len(queries)} queries on {connection.vendor}")
    assert len(queries) <= MAX_QUERIES
    assert (report.rows, report.created, report.updated) == (ROWS, ROWS - KNOWN, KNOWN)
    assert report.groups_created == 20  # team1..team19 and all; team0 existed
    # Every row brings two new methods (email + phone or webhook); a known contact's first
    # address is already there, in another case, and is not added again.
    assert report.methods_added == 2 * ROWS
    assert Contact.objects.count() == ROWS
    assert ContactMethod.objects.count() == KNOWN + report.methods_added
    assert Group.objects.get(name="all").members.count() == ROWS - ROWS // 10
    assert Group.objects.get(name="team0").members.count() == KNOWN + ROWS // 20 - KNOWN // 20
    assert Contact.objects.get(name="Person 1").notes == ""  # notes only on creation
    assert Contact.objects.get(name="Person 201").notes == "row 201"


def test_a_second_import_of_the_same_file_adds_nothing(db):
    data = "name,email,groups\nAnn,ann@example.com;ann@EXAMPLE.com,ops;OPS\nBob,,ops\n"
    first = services.contact_import_csv(data=data)
    assert (first.created, first.methods_added, first.groups_created) == (2, 1, 1)
    again = services.contact_import_csv(data=data.replace("Ann", "ANN"))
    assert (again.created, again.updated, again.methods_added, again.groups_created) == (
        0,
        2,
        0,
        0,
    )
    assert Group.objects.get().members.count() == 2


def test_an_unknown_group_without_create_groups_names_its_line_and_writes_nothing(db):
    data = "name,groups\nAnn,\nBob,ghosts\n"
    with pytest.raises(CsvInvalid, match="Line 3: unknown group 'ghosts'"):
        services.contact_import_csv(data=data, create_groups=False)
    assert not Contact.objects.exists()
