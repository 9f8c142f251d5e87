# Plain tracebacks: error values and tracebacks go to API clients, not to a terminal.
c.InteractiveShell.colors = "NoColor"
c.InteractiveShellApp.matplotlib = None
