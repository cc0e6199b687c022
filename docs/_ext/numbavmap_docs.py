"""Small Sphinx directives for the numbavmap docs.

Some pages show files that other work produces (the benchmark comparison
table and chart) or document modules that a later release adds
(``numbavmap.testing``). These directives let such a page build, with
``sphinx-build -W``, whether or not the file or module is there yet:

``optional-include``
    Parse the named file (relative to the page) as part of the page if it
    exists; otherwise show the directive's content (a placeholder note).

``optional-figure``
    Show the named image (relative to the page) with the content as its
    caption if it exists; otherwise show nothing.

``if-importable``
    Parse the content if the named module imports; otherwise show a note
    saying that this version does not have it.
"""

from __future__ import annotations

import importlib
import os

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


class OptionalInclude(SphinxDirective):
    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        relfn, absfn = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(absfn)
        if os.path.exists(absfn):
            with open(absfn, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
            source = absfn
        else:
            lines = list(self.content)
            source = self.get_source_info()[0]
        container = nodes.container(classes=["optional-include"])
        self.state.nested_parse(StringList(lines, source=source), self.content_offset, container)
        return container.children


class OptionalFigure(SphinxDirective):
    required_arguments = 1
    has_content = True
    option_spec = {"alt": directives.unchanged, "width": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        relfn, absfn = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(absfn)
        if not os.path.exists(absfn):
            return []
        image = nodes.image(uri=self.arguments[0], alt=self.options.get("alt", ""))
        if "width" in self.options:
            image["width"] = self.options["width"]
        figure = nodes.figure("", image)
        if self.content:
            holder = nodes.container()
            self.state.nested_parse(self.content, self.content_offset, holder)
            first = holder.children[0] if holder.children else None
            if isinstance(first, nodes.paragraph):
                figure += nodes.caption(first.rawsource, "", *first.children)
        return [figure]


class IfImportable(SphinxDirective):
    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            importlib.import_module(name)
        except ImportError:
            note = nodes.note()
            note += nodes.paragraph(
                "",
                "",
                nodes.literal(name, name),
                nodes.Text(" is not in this version of numbavmap."),
            )
            return [note]
        container = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("optional-include", OptionalInclude)
    app.add_directive("optional-figure", OptionalFigure)
    app.add_directive("if-importable", IfImportable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
