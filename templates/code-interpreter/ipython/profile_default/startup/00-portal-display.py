# Extra display formats for the code-interpreter API, registered in every Python kernel:
#   e2b/data  - a pandas DataFrame as {column: [values]}
#   e2b/chart - a matplotlib figure's data (portal_charts.py)
# and PIL images shown by Image.show() / Image.save() as results, as E2B's sandboxes do.
def _portal_display_setup():
    import json
    import sys
    from IPython import get_ipython
    from IPython.core.formatters import BaseFormatter
    from traitlets import ObjectName

    shell = get_ipython()
    if shell is None:
        return

    class TypeFormatter(BaseFormatter):
        """One function for one class, matched at call time. Not IPython's per-type registry:
        matplotlib's inline backend removes every Figure printer from every formatter when it
        activates, which would drop the chart format."""
        _return_type = (dict,)
        print_method = ObjectName("_repr_portal_unused_")

        def __init__(self, type_path, function, **kwargs):
            super().__init__(**kwargs)
            self._module, _, self._name = type_path.rpartition(".")
            self._function = function

        def __call__(self, obj):
            module = sys.modules.get(self._module)
            cls = getattr(module, self._name, None) if module is not None else None
            if cls is None or not isinstance(obj, cls):
                return None
            try:
                result = self._function(obj)
            except Exception:  # what cannot be read still displays in its other formats
                return None
            return result if isinstance(result, dict) else None

    def add_format(mime, type_path, function):
        formatter = TypeFormatter(type_path, function, parent=shell.display_formatter)
        formatter.format_type = mime
        shell.display_formatter.formatters[mime] = formatter

    def dataframe_data(df):
        return {str(column): json.loads(df[column].to_json(orient="values", date_format="iso")) for column in df.columns}

    def figure_chart(figure):
        import portal_charts
        return portal_charts.chart_of(figure)

    add_format("e2b/data", "pandas.core.frame.DataFrame", dataframe_data)
    add_format("e2b/chart", "matplotlib.figure.Figure", figure_chart)

    try:
        from PIL import Image
        from IPython.display import display

        original_save = Image.Image.save

        def save_and_display(self, fp, *args, **kwargs):
            original_save(self, fp, *args, **kwargs)
            if isinstance(fp, str):
                display(self)

        Image.Image.save = save_and_display
        Image.Image.show = lambda self, *args, **kwargs: display(self)
    except ImportError:
        pass


_portal_display_setup()
del _portal_display_setup
