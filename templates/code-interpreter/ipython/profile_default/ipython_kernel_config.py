# Plain tracebacks: error values and tracebacks go to API clients, not to a terminal.
c.InteractiveShell.colors = "NoColor"
c.InteractiveShellApp.matplotlib = None
# No input history on disk: nothing reads it back, and a kernel need not write SQLite per execution.
c.HistoryManager.hist_file = ":memory:"
