"""The one error a bad request to the workbook raises; the CLI prints it as one line and exits with status 2."""


class WorkbookError(Exception):
    """A bad request (unknown profile, notebook or parameter, unreadable profile, no workbook folder); the message
    names the file or option at fault and the valid choices or the fix."""
