"""The sub-services hanging off :class:`clinic_crm.ClinicCRM`: each method runs one use case in a unit of work."""

__all__: list[str] = []  # nothing to import from here
