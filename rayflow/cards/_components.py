"""Card components (Metaflow's ``metaflow.cards``): each renders itself as a piece of HTML.

A component is plain data until a card is rendered after the task, so components appended
to ``current.card`` during the step may still be changed (``update``) before the step ends.
User text is always escaped; only ``Markdown`` turns text into markup (a safe subset).
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

_MAX_REPR = 2000


def _short(value: Any, limit: int = _MAX_REPR) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a user object's __repr__ may raise anything
        text = f"<unrepresentable {type(value).__name__}: {exc}>"
    return text if len(text) <= limit else text[:limit] + " ..."


def render_any(item: Any) -> str:
    """HTML of a component, or of any other value placed in a card (shown as its repr)."""
    if isinstance(item, MetaflowCardComponent):
        out = item.render()
        if isinstance(out, str):
            return out
        return f"<pre>{html.escape(json.dumps(out, default=str, indent=1))}</pre>"
    if isinstance(item, str):
        return f"<p>{html.escape(item)}</p>"
    return f"<pre>{html.escape(_short(item))}</pre>"


class MetaflowCardComponent:
    """Base of every component: ``render()`` returns the component's HTML (a string)."""

    REALTIME_UPDATABLE = False
    _component_id: str | None = None

    @property
    def component_id(self) -> str | None:
        return self._component_id

    @component_id.setter
    def component_id(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a component id must be a string")
        self._component_id = value

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be updated")

    def render(self) -> Any:
        return ""


class Markdown(MetaflowCardComponent):
    """Markdown text."""

    REALTIME_UPDATABLE = True

    def __init__(self, text: str | None = None) -> None:
        self.text = "" if text is None else str(text)

    def update(self, text: str | None = None) -> None:
        self.text = "" if text is None else str(text)

    def render(self) -> str:
        from ._markdown import to_html

        return f'<div class="rf-markdown">{to_html(self.text)}</div>'


class Table(MetaflowCardComponent):
    """Rows of cells; a cell may be a value or another component."""

    REALTIME_UPDATABLE = True

    def __init__(
        self,
        data: list[list[Any]] | None = None,
        headers: list[str] | None = None,
        disable_updates: bool = False,
    ) -> None:
        self.data = [list(row) for row in (data or [])]
        self.headers = list(headers or [])

    @classmethod
    def from_dataframe(cls, dataframe: Any = None, truncate: bool = True) -> Table:
        frame = dataframe.head(100) if truncate and hasattr(dataframe, "head") else dataframe
        headers = [str(c) for c in frame.columns]
        return cls([list(r) for r in frame.itertuples(index=False)], headers=headers)

    def update(self, data: list[list[Any]] | None = None, headers: list[str] | None = None) -> None:
        if data is not None:
            self.data = [list(row) for row in data]
        if headers is not None:
            self.headers = list(headers)

    def render(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.headers)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in self.data
        )
        return f'<table class="rf-table">{f"<thead><tr>{head}</tr></thead>" if head else ""}<tbody>{rows}</tbody></table>'


def _cell(value: Any) -> str:
    if isinstance(value, MetaflowCardComponent):
        return render_any(value)
    return html.escape(value if isinstance(value, str) else _short(value, 500))


class Image(MetaflowCardComponent):
    """An image from PNG/JPEG/GIF/SVG bytes (shown inline), a PIL image or a matplotlib figure."""

    REALTIME_UPDATABLE = True

    def __init__(
        self, src: bytes | None = None, label: str | None = None, disable_updates: bool = True
    ) -> None:
        self.src = src
        self.label = label

    @classmethod
    def from_pil_image(
        cls, pilimage: Any, label: str | None = None, disable_updates: bool = True
    ) -> Image:
        import io

        buf = io.BytesIO()
        pilimage.save(buf, format="PNG")
        return cls(buf.getvalue(), label=label)

    @classmethod
    def from_matplotlib(
        cls, plot: Any, label: str | None = None, disable_updates: bool = True
    ) -> Image:
        import io

        figure = (
            plot.get_figure()
            if hasattr(plot, "get_figure") and not hasattr(plot, "savefig")
            else plot
        )
        buf = io.BytesIO()
        figure.savefig(buf, format="png")
        return cls(buf.getvalue(), label=label)

    def update(self, src: bytes | None = None, label: str | None = None) -> None:
        self.src = src if src is not None else self.src
        self.label = label if label is not None else self.label

    def render(self) -> str:
        if not isinstance(self.src, (bytes, bytearray)):
            return f"<p>image: expected bytes, got {html.escape(type(self.src).__name__)}</p>"
        mime = _image_type(bytes(self.src))
        data = base64.b64encode(bytes(self.src)).decode("ascii")
        label = f"<figcaption>{html.escape(self.label)}</figcaption>" if self.label else ""
        return (
            f'<figure class="rf-image"><img src="data:{mime};base64,{data}" alt="">{label}</figure>'
        )


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data.lstrip().startswith((b"<svg", b"<?xml")):
        return "image/svg+xml"
    return "application/octet-stream"


class Artifact(MetaflowCardComponent):
    """A value shown as its (shortened) repr, with an optional name."""

    def __init__(self, artifact: Any, name: str | None = None, compressed: bool = True) -> None:
        self.artifact = artifact
        self.name = name
        self.compressed = compressed

    def update(self, artifact: Any) -> None:
        self.artifact = artifact

    def render(self) -> str:
        text = _short(self.artifact, _MAX_REPR if self.compressed else 10**6)
        name = f"<b>{html.escape(self.name)}</b> " if self.name else ""
        return f'<div class="rf-artifact">{name}<pre>{html.escape(text)}</pre></div>'


class VegaChart(MetaflowCardComponent):
    """A Vega-Lite chart from its spec (a dict), drawn by vega-embed in the browser."""

    REALTIME_UPDATABLE = True

    def __init__(self, spec: dict[str, Any], show_controls: bool = False) -> None:
        self.spec = spec
        self.show_controls = show_controls

    @classmethod
    def from_altair_chart(cls, altair_chart: Any) -> VegaChart:
        return cls(altair_chart.to_dict())

    def update(self, spec: dict[str, Any] | None = None) -> None:
        if spec is not None:
            self.spec = spec

    def render(self) -> str:
        spec = json.dumps(self.spec, default=str).replace("</", "<\\/")
        ident = f"rf-vega-{id(self):x}"
        return (
            f'<div class="rf-vega" id="{ident}"></div><script type="application/json" '
            f'id="{ident}-spec">{spec}</script><script>if (window.vegaEmbed) vegaEmbed("#{ident}", '
            f'JSON.parse(document.getElementById("{ident}-spec").textContent), '
            f'{{"actions": {json.dumps(bool(self.show_controls))}}});</script>'
        )


class ProgressBar(MetaflowCardComponent):
    """A progress bar; its last value before the task ended is the one shown."""

    REALTIME_UPDATABLE = True

    def __init__(
        self,
        max: int = 100,
        label: str | None = None,
        value: int = 0,
        unit: str | None = None,
        metadata: str | None = None,
    ) -> None:
        self.max, self.label, self.value, self.unit, self.metadata = (
            max,
            label,
            value,
            unit,
            metadata,
        )

    def update(self, new_value: int, metadata: str | None = None) -> None:
        self.value = new_value
        if metadata is not None:
            self.metadata = metadata

    def render(self) -> str:
        label = html.escape(self.label or "")
        unit = html.escape(self.unit or "")
        return (
            f'<div class="rf-progress">{label} <progress max="{html.escape(str(self.max))}" '
            f'value="{html.escape(str(self.value))}"></progress> {html.escape(str(self.value))}'
            f"/{html.escape(str(self.max))} {unit} {html.escape(self.metadata or '')}</div>"
        )


class PythonCode(MetaflowCardComponent):
    """Python source shown as code (a string, or a function/class whose source is read)."""

    def __init__(self, code_string: str | None = None, data: Any = None) -> None:
        if code_string is None and data is not None:
            import inspect

            code_string = inspect.getsource(data)
        self.code = code_string or ""

    def render(self) -> str:
        return f'<pre class="rf-code"><code>{html.escape(self.code)}</code></pre>'


class Error(MetaflowCardComponent):
    """An exception, with its title, shown as text."""

    def __init__(self, exception: Any, title: str | None = None) -> None:
        self.exception = exception
        self.title = title

    def render(self) -> str:
        title = f"<h3>{html.escape(self.title)}</h3>" if self.title else ""
        return f'<div class="rf-error">{title}<pre>{html.escape(str(self.exception))}</pre></div>'
