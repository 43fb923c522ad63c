"""The monitor's dark, calm theme: one palette for marks and one CSS block for the widgets.

The CSS is scoped under ``.mdx-app`` (and ``.mdx-panel`` for panels shown on their own), so it does not
restyle anything else in a JupyterLab session. It reaches the page through an ``ipywidgets.HTML`` style
block (``style_block()``); the same block works in JupyterLab and in Voilà.
"""

from __future__ import annotations

import ipywidgets as widgets

BG = "#0d1117"
PANEL = "#121821"
RAISED = "#18202b"
BORDER = "#222c38"
GRID = "#1b2430"
TEXT = "#c9d1d9"
MUTED = "#7d8793"
FAINT = "#4a5561"
ACCENT = "#58a6ff"
UP = "#3fb68b"
DOWN = "#ef6461"
WARN = "#d8a03d"
EMA = "#e3b341"
BOLLINGER = "#a371f7"
VWAP = "#58a6ff"
MID = "#c9d1d9"
MICRO = "#e3b341"
BAND = "#58a6ff"
FONT = "'Inter', 'Segoe UI', 'Helvetica Neue', Arial, sans-serif"
MONO = "'JetBrains Mono', 'SF Mono', 'Menlo', 'DejaVu Sans Mono', monospace"

CSS = f"""
.mdx-app, .mdx-panel {{
  --mdx-bg: {BG}; --mdx-panel: {PANEL}; --mdx-raised: {RAISED}; --mdx-border: {BORDER};
  --mdx-text: {TEXT}; --mdx-muted: {MUTED}; --mdx-faint: {FAINT}; --mdx-accent: {ACCENT};
  --mdx-up: {UP}; --mdx-down: {DOWN}; --mdx-warn: {WARN};
  color: var(--mdx-text); font-family: {FONT}; font-size: 12px;
}}
.mdx-app {{ background: var(--mdx-bg); padding: 10px 12px 12px 12px; border-radius: 6px;
  box-sizing: border-box; width: 100%; gap: 8px; }}
.mdx-app .widget-html, .mdx-panel.widget-html {{ margin: 0; }}
.mdx-app .widget-html-content, .mdx-panel .widget-html-content {{
  color: var(--mdx-text); font-family: {FONT}; font-size: 12px; line-height: 1.35; height: auto; }}
.mdx-card {{ background: var(--mdx-panel); border: 1px solid var(--mdx-border); border-radius: 6px;
  padding: 6px 8px; box-sizing: border-box; }}
.mdx-card-title {{ color: var(--mdx-muted); font-size: 10.5px; letter-spacing: .08em;
  text-transform: uppercase; margin: 0 0 4px 2px; }}
.mdx-num {{ font-family: {MONO}; font-variant-numeric: tabular-nums; }}
.mdx-up {{ color: var(--mdx-up); }}
.mdx-down {{ color: var(--mdx-down); }}
.mdx-muted {{ color: var(--mdx-muted); }}
.mdx-warn-text {{ color: var(--mdx-warn); }}

/* header and controls */
.mdx-header {{ align-items: center; gap: 6px 10px; flex-wrap: wrap; }}
/* every control stays visible whatever the source string: controls wrap, never shrink, selects are capped
   (the full text is in the tooltip) */
.mdx-app .mdx-controls {{ flex-wrap: wrap; gap: 6px 8px; align-items: center; min-width: 0;
  max-width: 100%; }}
.mdx-app .mdx-controls > .mdx-field, .mdx-app .mdx-controls > .widget-toggle-buttons,
.mdx-app .mdx-controls > .mdx-indicators {{ flex: 0 0 auto; }}
.mdx-app .mdx-field {{ align-items: center; gap: 6px; }}
.mdx-app .mdx-control-label .widget-html-content {{ color: var(--mdx-muted); font-size: 11px; }}
.mdx-app .mdx-controls select {{ max-width: 240px; text-overflow: ellipsis; }}
.mdx-app .mdx-controls .widget-toggle-buttons .btn-group, .mdx-app .mdx-indicators {{ flex-wrap: nowrap; }}
.mdx-brand .widget-html-content {{ font-size: 15px; font-weight: 600; letter-spacing: .02em;
  color: var(--mdx-text); }}
.mdx-brand .mdx-brand-dot {{ color: var(--mdx-accent); }}
.mdx-app .widget-dropdown, .mdx-app .widget-toggle-buttons {{ width: auto; margin: 0; }}
.mdx-app .widget-dropdown > label, .mdx-app .widget-toggle-buttons > label {{
  color: var(--mdx-muted); width: auto; min-width: 0; padding-right: 6px; font-size: 11px; }}
.mdx-app select {{ background: var(--mdx-raised); color: var(--mdx-text); border: 1px solid var(--mdx-border);
  border-radius: 4px; height: 26px; font-family: {FONT}; font-size: 12px; padding: 0 22px 0 8px; }}
.mdx-app select option {{ background: var(--mdx-raised); color: var(--mdx-text); }}
.mdx-app .jupyter-button {{ background: var(--mdx-raised); color: var(--mdx-muted);
  border: 1px solid var(--mdx-border); border-radius: 4px; height: 26px; font-size: 11.5px; box-shadow: none;
  padding: 0 10px; width: auto; margin: 0 2px 0 0; }}
.mdx-app .jupyter-button:hover {{ color: var(--mdx-text); box-shadow: none; }}
.mdx-app .jupyter-button.mod-active {{ background: #1f2a37; color: var(--mdx-text);
  border-color: var(--mdx-accent); box-shadow: none; }}
.mdx-app .widget-toggle-buttons .widget-toggle-button {{ min-width: 40px; padding: 0 6px; }}
.mdx-app .mdx-spacer {{ flex: 1 1 auto; }}

/* status line */
.mdx-app .mdx-status {{ flex: 0 1 auto; min-width: 0; max-width: 100%; }}
.mdx-status .widget-html-content {{ font-size: 11.5px; color: var(--mdx-muted); white-space: nowrap;
  overflow: hidden; max-width: 100%; }}
.mdx-status-line {{ overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.mdx-status .mdx-state {{ font-weight: 600; letter-spacing: .03em; }}
.mdx-dot {{ display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin: 0 6px 1px 0;
  vertical-align: middle; background: var(--mdx-faint); }}
.mdx-state-connected .mdx-dot {{ background: var(--mdx-up); box-shadow: 0 0 6px rgba(63,182,139,.6); }}
.mdx-state-connected .mdx-state {{ color: var(--mdx-up); }}
.mdx-state-connecting .mdx-dot, .mdx-state-reconnecting .mdx-dot, .mdx-state-stale .mdx-dot
  {{ background: var(--mdx-warn); }}
.mdx-state-connecting .mdx-state, .mdx-state-reconnecting .mdx-state, .mdx-state-stale .mdx-state
  {{ color: var(--mdx-warn); }}
.mdx-state-error .mdx-dot {{ background: var(--mdx-down); }}
.mdx-state-error .mdx-state {{ color: var(--mdx-down); }}
.mdx-status .mdx-sep {{ color: var(--mdx-faint); margin: 0 6px; }}
.mdx-status .mdx-source-name {{ color: var(--mdx-text); margin-right: 4px; }}

/* tiles */
.mdx-tiles .widget-html-content {{ display: flex; gap: 6px; flex-wrap: wrap; }}
.mdx-tile {{ flex: 1 1 0; min-width: 92px; background: var(--mdx-panel); border: 1px solid var(--mdx-border);
  border-radius: 6px; padding: 6px 10px 7px 10px; }}
.mdx-tile-label {{ color: var(--mdx-muted); font-size: 10px; letter-spacing: .08em;
  text-transform: uppercase; }}
.mdx-tile-value {{ font-family: {MONO}; font-variant-numeric: tabular-nums; font-size: 17px;
  color: var(--mdx-text);
  white-space: nowrap; margin-top: 2px; }}
.mdx-tile-note {{ color: var(--mdx-faint); font-size: 10px; margin-left: 4px; text-transform: none;
  letter-spacing: .02em; }}
.mdx-tile-last .mdx-tile-value {{ font-size: 19px; font-weight: 600; }}

/* body */
.mdx-body {{ gap: 8px; align-items: stretch; flex-wrap: wrap; }}  /* narrow: the book goes below */
.mdx-col {{ gap: 8px; }}
.mdx-col-left {{ flex: 0 0 272px; width: 272px; }}
.mdx-col-center {{ flex: 1 1 420px; min-width: 420px; }}
.mdx-col-right {{ flex: 0 0 290px; width: 290px; }}
.mdx-chart-card {{ background: var(--mdx-panel); border: 1px solid var(--mdx-border); border-radius: 6px;
  padding: 2px 2px 0 2px; gap: 0; position: relative; }}
/* the empty state: no axes, one line saying why (waiting, or the source's error) */
.mdx-chart-card > .mdx-chart-note {{ display: none; position: absolute; left: 0; right: 0; top: 45%;
  margin: 0; pointer-events: none; }}
.mdx-chart-card.mdx-empty > .mdx-chart-note {{ display: block; }}
.mdx-chart-note .widget-html-content {{ color: var(--mdx-muted); text-align: center; white-space: normal;
  padding: 0 24px; font-size: 12px; }}
.mdx-legend-row {{ display: flex; flex-wrap: nowrap; align-items: baseline; column-gap: 8px; }}
.mdx-legend-main {{ flex: 1 1 auto; min-width: 0; }}
.mdx-legend-keys {{ flex: 0 0 auto; text-align: right; }}
/* the candle legend always has room for two lines: its values never make the charts below jump */
.mdx-candle-legend .widget-html-content {{ min-height: 32px; }}
.mdx-legend-key {{ white-space: nowrap; }}
.mdx-axis-unit {{ flex: 0 0 52px; color: var(--mdx-muted); font-family: {MONO}; font-size: 10px;
  text-align: left; }}
.mdx-warmup {{ color: var(--mdx-warn); }}
.mdx-chart-card > .widget-html .widget-html-content {{ padding: 4px 8px 0 8px; }}
.mdx-legend {{ color: var(--mdx-muted); font-size: 11px; }}
.mdx-legend b {{ color: var(--mdx-text); font-weight: 600; }}
.mdx-legend .mdx-key {{ display: inline-block; width: 10px; height: 2px; vertical-align: middle;
  margin: 0 4px 0 10px; }}
.mdx-app .bqplot, .mdx-panel .bqplot {{ background: transparent; }}
.mdx-app .bqplot > svg, .mdx-panel .bqplot > svg {{ background: transparent; }}
/* !important: JupyterLab's light theme styles bqplot axes with more specific selectors */
.mdx-app .bqplot .axis text, .mdx-panel .bqplot .axis text {{
  fill: {MUTED} !important; font-family: {MONO} !important; font-size: 10px !important; }}
.mdx-app .bqplot .axis path.domain, .mdx-panel .bqplot .axis path.domain {{ stroke: {BORDER} !important; }}
.mdx-app .bqplot .axis .tick line, .mdx-panel .bqplot .axis .tick line {{ stroke: {GRID} !important; }}
.mdx-app .bqplot .plotarea_background, .mdx-panel .bqplot .plotarea_background {{ fill: transparent; }}

/* tables: watchlist, ladder, trades, log */
.mdx-table {{ width: 100%; border-collapse: collapse; font-family: {MONO}; font-variant-numeric: tabular-nums;
  font-size: 11.5px; }}
.mdx-table th {{ color: var(--mdx-faint); font-weight: 500; font-family: {FONT}; font-size: 10px;
  text-align: right;
  letter-spacing: .06em; text-transform: uppercase; padding: 2px 4px; }}
.mdx-table td {{ text-align: right; padding: 0 4px; white-space: nowrap; line-height: 16px; }}
.mdx-table th:first-child, .mdx-table td:first-child {{ text-align: left; }}
.mdx-venue-table th:nth-child(2), .mdx-venue-table td:nth-child(2) {{ text-align: left; }}
.mdx-venue-table tr.mdx-venue-in-use td {{ color: var(--mdx-text); font-weight: 600; }}
.mdx-venue-use {{ color: var(--mdx-up); }}
.mdx-composites, .mdx-derivatives, .mdx-feeds {{ font-family: {MONO}; font-size: 11.5px; line-height: 17px; }}
.mdx-feeds {{ padding: 0 8px; color: var(--mdx-muted); }}
.mdx-trades tr.mdx-buy td:first-child {{ box-shadow: inset 2px 0 0 var(--mdx-up); }}
.mdx-trades tr.mdx-sell td:first-child {{ box-shadow: inset 2px 0 0 var(--mdx-down); }}
.mdx-trades tr.mdx-buy .mdx-px {{ color: var(--mdx-up); }}
.mdx-trades tr.mdx-sell .mdx-px {{ color: var(--mdx-down); }}
.mdx-trades tr.mdx-big td {{ font-weight: 700; }}
.mdx-lr {{ display: grid; grid-template-columns: 1.2fr 1fr 1fr; padding: 0 6px; font-family: {MONO};
  font-variant-numeric: tabular-nums; font-size: 11.5px; line-height: 17px; }}
.mdx-lr span {{ text-align: right; }}
.mdx-lr span:first-child {{ text-align: left; }}
.mdx-lr span:last-child {{ color: var(--mdx-muted); }}
/* two bars per row, from the right: the level's size as a solid strip along the foot of the row, the
   cumulative size as a faint fill of the whole row */
.mdx-lr.mdx-ask {{ background:
  linear-gradient(to left, rgba(239,100,97,.8) var(--w), transparent var(--w))
    right bottom / 100% 3px no-repeat,
  linear-gradient(to left, rgba(239,100,97,.11) var(--c), transparent var(--c)); }}
.mdx-lr.mdx-bid {{ background:
  linear-gradient(to left, rgba(63,182,139,.8) var(--w), transparent var(--w))
    right bottom / 100% 3px no-repeat,
  linear-gradient(to left, rgba(63,182,139,.11) var(--c), transparent var(--c)); }}
.mdx-ladder-keys {{ float: right; text-transform: none; letter-spacing: 0; }}
.mdx-ladder-key {{ display: inline-block; width: 12px; margin: 0 4px 0 10px; vertical-align: middle; }}
.mdx-ladder-key.mdx-key-size {{ height: 3px; background: var(--mdx-muted); }}
.mdx-ladder-key.mdx-key-total {{ height: 10px; background: rgba(125,135,147,.25); }}
.mdx-unit {{ color: var(--mdx-faint); text-transform: none; letter-spacing: 0; }}
.mdx-lr.mdx-ask span:first-child {{ color: var(--mdx-down); }}
.mdx-lr.mdx-bid span:first-child {{ color: var(--mdx-up); }}
.mdx-ladder-head span {{ color: var(--mdx-faint); font-family: {FONT}; font-size: 10px; letter-spacing: .06em;
  text-transform: uppercase; }}
.mdx-ladder-spread {{ color: var(--mdx-muted); text-align: center; padding: 2px 0; margin: 2px 0;
  border-top: 1px solid var(--mdx-border); border-bottom: 1px solid var(--mdx-border); font-size: 11px; }}
.mdx-ladder-wait {{ padding: 6px; }}
.mdx-badge {{ display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 10px; font-family: {FONT};
  letter-spacing: .05em; background: rgba(239,100,97,.15); color: var(--mdx-down); margin-left: 6px; }}
.mdx-badge-ok {{ background: rgba(63,182,139,.12); color: var(--mdx-up); }}

.mdx-watch-row {{ position: relative; margin: 0; }}
.mdx-watch-row .mdx-watch-content {{ flex: 1 1 auto; }}
.mdx-watch-row .widget-html-content {{ padding: 5px 8px; border-radius: 5px; border: 1px solid transparent; }}
.mdx-watch-row:hover .widget-html-content {{ background: var(--mdx-raised); }}
.mdx-watch-row.mdx-selected .widget-html-content {{ background: #162130; border-color: #24405f; }}
.mdx-watch-row .mdx-watch-hit {{ position: absolute; inset: 0; width: 100%; height: 100%; opacity: 0;
  margin: 0; padding: 0; cursor: pointer; z-index: 2; }}
.mdx-watch-grid {{ display: grid; grid-template-columns: 1fr auto; grid-template-rows: auto auto;
  gap: 1px 6px;
  align-items: center; }}
.mdx-watch-sym {{ font-weight: 600; color: var(--mdx-text); font-size: 12px; }}
.mdx-watch-last {{ text-align: right; font-family: {MONO}; font-size: 12px; }}
.mdx-watch-meta {{ color: var(--mdx-muted); font-size: 10.5px; font-family: {MONO}; }}
.mdx-watch-spark {{ text-align: right; line-height: 0; }}

/* sub-charts under the candles (MACD, RSI): chart cards of their own */
.mdx-osc-card {{ background: var(--mdx-panel); border: 1px solid var(--mdx-border); border-radius: 6px;
  padding: 2px 2px 0 2px; gap: 0; position: relative; }}
.mdx-osc-card > .mdx-chart-note {{ display: none; position: absolute; left: 0; right: 0; top: 40%;
  margin: 0; pointer-events: none; }}
.mdx-osc-card.mdx-empty > .mdx-chart-note {{ display: block; }}
.mdx-osc-card > .widget-html .widget-html-content {{ padding: 3px 8px 0 8px; }}
.mdx-osc-card > * {{ flex-shrink: 0; }}  /* collapsed (hidden), the figure keeps its size */

/* signals: z-score signal, confluence gauge, consensus row */
.mdx-signals {{ gap: 8px; }}
.mdx-signal-row {{ display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; }}
.mdx-signal-label {{ font-size: 17px; font-weight: 700; letter-spacing: .04em; }}
.mdx-signal-z {{ font-size: 13px; }}
.mdx-signal-where {{ font-size: 10.5px; }}
.mdx-confluence-body {{ display: flex; gap: 8px; align-items: center; }}
.mdx-gauge-box {{ flex: 0 0 120px; text-align: center; }}
.mdx-confluence-label {{ font-size: 11.5px; font-weight: 600; text-transform: uppercase;
  letter-spacing: .05em; }}
.mdx-dims {{ flex: 1 1 auto; min-width: 0; }}
.mdx-dim {{ display: grid; grid-template-columns: 64px 1fr 26px; gap: 4px; align-items: center;
  font-size: 10.5px; line-height: 14px; }}
.mdx-dim-name {{ color: var(--mdx-muted); white-space: nowrap; }}
.mdx-dim-bar {{ height: 5px; background: var(--mdx-raised); border-radius: 2px; overflow: hidden; }}
.mdx-dim-bar > span {{ display: block; height: 100%; }}
.mdx-dim-value {{ text-align: right; }}
.mdx-votes {{ display: flex; gap: 4px; flex-wrap: wrap; }}
.mdx-vote {{ flex: 1 1 0; min-width: 46px; background: var(--mdx-raised); border-radius: 4px;
  padding: 3px 2px; text-align: center; }}
.mdx-vote-tf {{ color: var(--mdx-muted); font-size: 10px; }}
.mdx-vote-value {{ font-weight: 600; font-size: 10px; letter-spacing: -.01em; white-space: nowrap; }}
.mdx-vote-meta {{ font-size: 9.5px; white-space: nowrap; }}
.mdx-consensus-signal {{ flex: 2 1 0; }}

/* alerts */
.mdx-alerts {{ gap: 4px; }}
.mdx-app .mdx-alert-form {{ flex-wrap: wrap; gap: 4px 10px; align-items: center; }}
.mdx-app .mdx-alert-form .widget-text {{ width: 110px; margin: 0; }}
.mdx-app .mdx-alert-form input {{ background: var(--mdx-raised); color: var(--mdx-text);
  border: 1px solid var(--mdx-border); border-radius: 4px; height: 26px; font-size: 12px; }}
.mdx-app .mdx-alert-form input:disabled {{ opacity: .4; }}
.mdx-alert-lists {{ gap: 12px; align-items: flex-start; }}
.mdx-alert-lists > .mdx-alert-rules {{ flex: 1 1 0; min-width: 220px; }}
.mdx-alert-lists > .mdx-alert-triggers {{ flex: 2 1 0; min-width: 320px; }}
.mdx-alert-head {{ color: var(--mdx-faint); font-size: 10px; letter-spacing: .06em; text-transform: uppercase;
  margin: 2px 0; }}
.mdx-alert-rule {{ display: flex; justify-content: space-between; gap: 8px; font-size: 11.5px; }}
.mdx-alert-name {{ font-family: {MONO}; font-size: 10.5px; }}
.mdx-alert-message .widget-html-content {{ font-size: 11.5px; min-height: 16px; }}

.mdx-log .widget-html-content {{ font-family: {MONO}; font-size: 11px; max-height: 92px; overflow-y: auto; }}
.mdx-log-row {{ white-space: pre-wrap; color: var(--mdx-muted); }}
.mdx-log-row.mdx-log-WARNING .mdx-log-level {{ color: var(--mdx-warn); }}
.mdx-log-row.mdx-log-ERROR .mdx-log-level, .mdx-log-row.mdx-log-CRITICAL .mdx-log-level {{
  color: var(--mdx-down); }}
.mdx-log-empty {{ color: var(--mdx-faint); }}
"""


def style_block() -> widgets.HTML:
    """An invisible widget that carries the monitor's CSS; display it once next to any ``mdx.ui`` panel."""
    block = widgets.HTML(f"<style>{CSS}</style>", layout=widgets.Layout(display="none"))
    block.add_class("mdx-style")
    return block


__all__ = [
    "BAND",
    "BG",
    "BOLLINGER",
    "BORDER",
    "CSS",
    "DOWN",
    "EMA",
    "GRID",
    "MICRO",
    "MID",
    "MUTED",
    "PANEL",
    "TEXT",
    "UP",
    "VWAP",
    "WARN",
    "style_block",
]
