from tests.conftest import Account


def test_create_and_list_project(alice: Account) -> None:
    alice.ok("project", "create", "film")
    result = alice.ok("project", "list", "--json")
    assert '"film"' in result.stdout
