"""``clinic-crm clinics``: create a clinic and list them — the first step without writing Python.

Examples::

    clinic-crm migrate --db sqlite:///clinic.db
    clinic-crm clinics create "Sunrise Dental" --timezone Asia/Taipei --locale zh_TW --region TW --db sqlite:///clinic.db
    clinic-crm clinics list --db sqlite:///clinic.db
"""

from __future__ import annotations

import argparse
from typing import Any

from clinic_crm.cli import EXIT_OK, add_db_option, open_crm

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``clinics`` sub-command (``create``, ``list``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "clinics", help="create a clinic, list clinics", description="Create a clinic or list the clinics."
    )
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a clinic and print its id", description="Create a clinic.")
    create.add_argument("name", help="the clinic's name, shown in messages")
    create.add_argument("--timezone", required=True, help="IANA time zone, e.g. Asia/Taipei")
    create.add_argument("--locale", required=True, help="Babel locale id, e.g. zh_TW or en_US")
    create.add_argument("--region", required=True, help="ISO country code for local phone numbers, e.g. TW")
    add_db_option(create)
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="list the clinics", description="List the clinics with their ids.")
    add_db_option(listing)
    listing.set_defaults(handler=_list)


def _create(args: argparse.Namespace) -> int:
    with open_crm(args) as crm:
        clinic = crm.clinics.create(args.name, timezone=args.timezone, locale=args.locale, region=args.region)
    print(f"created clinic {clinic.id}: {clinic.name} ({clinic.timezone}, {clinic.locale}, {clinic.region})")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    with open_crm(args) as crm:
        clinics = crm.clinics.list()
    if not clinics:
        print("no clinics yet; create one with: clinic-crm clinics create NAME --timezone … --locale … --region …")
    for clinic in clinics:
        print(f"{clinic.id:>4}  {clinic.name}  {clinic.timezone}  {clinic.locale}  {clinic.region}")
    return EXIT_OK
