"""Server-rendered TV pages under ``/tv/`` (1280x720, 64x36 px safe margin, remote-control navigation).

How a page authenticates: the box's launcher (which holds the device secret) signs in at
``/stb/v1/auth/token`` and opens ``/tv/?token=<token>``; every link carries the token on, and the page scripts
send it as ``Authorization: Bearer`` on their XMLHttpRequests. No secret is ever in a page. A missing or
expired token gets a Chinese page asking the resident to reopen the service from the box's menu.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from stb_api.errors import ApiError
from stb_api.intake import KINDS, TEMPLATES
from stb_api.keys import AUTH, CATALOG, DEVICE_LIMIT, SETTINGS, TOWNS
from tickets.catalog.schema import GuideItem

__all__ = ["add_routes"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
_STATIC_TYPES = {"tv.js": "application/javascript", "tv.css": "text/css"}
_STATIC_KEY = web.AppKey("tv_static", dict)
PAGE_SIZE = 6
e = html.escape


def _url(path: str, token: str, **params: object) -> str:
    query = {"token": token, **{k: v for k, v in params.items() if v is not None}}
    return f"{path}?{urlencode(query)}"


def _page(title: str, body: str, token: str, *, back: str | None = None, prev: str | None = None,
          nxt: str | None = None, first: str | None = None, script: str = "", hint: str = "") -> str:
    attrs = f' data-token="{e(token)}"'
    for name, value in (("back", back), ("prev", prev), ("next", nxt), ("first", first)):
        if value:
            attrs += f' data-{name}="{e(value)}"'
    hint = hint or "方向键选择 · 确定键进入 · 返回键返回"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="page-view-size" content="1280*720">
<meta name="viewport" content="width=1280, height=720">
<title>{e(title)}</title>
<link rel="stylesheet" href="/tv/static/tv.css">
<script src="/tv/static/tv.js"></script>
</head><body{attrs}>
<div id="safe"><h1>{e(title)}</h1>
{body}
<div class="hint">{e(hint)}</div></div>
<script>{script}
TV.start();</script>
</body></html>"""


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def _message_page(title: str, message: str, status: int) -> web.Response:
    body = f'<div class="msg" id="message">{e(message)}</div>'
    return _html(f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="page-view-size" content="1280*720"><title>{e(title)}</title>
<link rel="stylesheet" href="/tv/static/tv.css"></head>
<body><div id="safe"><h1>{e(title)}</h1>{body}</div></body></html>""", status)


async def _signed_in(request: web.Request) -> str:
    """The page's token after checking it; ApiError for the caller to turn into a page."""
    token = request.query.get("token", "")
    device = await request.app[AUTH].check_token(token)
    wait_s = request.app[DEVICE_LIMIT].hit(device.stbid)
    if wait_s:
        raise ApiError(429, "rate_limited", f"too many requests from this device; retry in {wait_s} s",
                       extra={"retry_after_s": wait_s}, headers={"Retry-After": str(wait_s)})
    return token


def page_handler(render):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            token = await _signed_in(request)
        except ApiError as exc:
            if exc.status == 429:
                raise
            return _message_page("请重新进入", "登录已失效，请按遥控器“主页”键，从机顶盒菜单重新进入政务服务。", 401)
        return await render(request, token)
    return handler


def _row(item: GuideItem, token: str, index: int) -> str:
    return (f'<a class="f row" id="n{index}" href="{e(_url("/tv/item/" + item.implementation_code, token))}">'
            f'{index}. {e(item.name)}<span class="meta">{e(item.trips_label)} · {e(item.promised_label)}</span></a>')


async def home(request: web.Request, token: str) -> web.Response:
    snap = await request.app[CATALOG].snapshot()
    tiles = [("guides", "办事指南", "/tv/themes"), ("search", "查找事项", "/tv/search"),
             ("progress", "进度查询", "/tv/progress"), ("request", "我要反映", "/tv/request")]
    body = '<div class="tiles">' + "".join(
        f'<a class="f tile" id="tile-{key}" href="{e(_url(path, token))}">{e(label)}</a>' for key, label, path in tiles)
    body += '</div><h2>热门事项</h2><div class="list" style="height:240px">'
    body += "".join(_row(item, token, i) for i, item in enumerate(snap.top(3), start=1))
    body += "</div>" + "".join(f'<div class="notice">{e(n)}</div>' for n in request.app[SETTINGS].stb.notices[:1])
    return _html(_page("龙泉驿区 96536 电视政务服务", body, token, first="tile-guides",
                       hint="方向键选择 · 确定键进入 · 数字键打开热门事项"))


async def themes(request: web.Request, token: str) -> web.Response:
    snap = await request.app[CATALOG].snapshot()
    body = '<div class="tiles">' + "".join(
        f'<a class="f tile small" id="theme-{e(t.code)}" href="{e(_url("/tv/list", token, theme=t.code))}">'
        f'{e(t.name)}<span class="n">{t.item_count} 项</span></a>' for t in snap.themes) + "</div>"
    return _html(_page("办事指南 · 选择主题", body, token, back=_url("/tv/", token)))


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5 and int(raw) >= 1):
        raise web.HTTPBadRequest(text=f"{name}: expected a positive integer", content_type="text/html")
    return int(raw)


async def guide_list(request: web.Request, token: str) -> web.Response:
    theme = request.query.get("theme") or None
    if theme is not None and len(theme) > 32:
        return _html(_page("参数有误", '<div class="msg">主题代码有误。</div>', token, back=_url("/tv/themes", token)),
                     400)
    try:
        page_no = _int_param(request, "page", 1)
    except web.HTTPBadRequest:
        return _html(_page("参数有误", '<div class="msg">页码有误。</div>', token, back=_url("/tv/themes", token)), 400)
    snap = await request.app[CATALOG].snapshot()
    page_no = min(page_no, 10_000)
    page = snap.list_items(theme=theme, page=page_no, page_size=PAGE_SIZE)
    name = next((t.name for t in snap.themes if t.code == theme), "全部事项")
    rows = "".join(_row(item, token, i) for i, item in enumerate(page.items, start=1)) or \
        f'<a class="f row" id="n1" href="{e(_url("/tv/themes", token))}">暂无事项，按确定键返回主题列表</a>'
    pages = max(page.pages, 1)
    prev = _url("/tv/list", token, theme=theme, page=page_no - 1) if page_no > 1 else None
    nxt = _url("/tv/list", token, theme=theme, page=page_no + 1) if page_no < pages else None
    body = f'<div class="list">{rows}</div><div class="notice" id="pager">第 {page_no}/{pages} 页，共 {page.total} 项</div>'
    return _html(_page(f"办事指南 · {name}", body, token, back=_url("/tv/themes", token), prev=prev, nxt=nxt,
                       hint="方向键选择 · 确定键查看 · 上下页键翻页 · 数字键直达"))


def _detail_sections(item: GuideItem) -> list[tuple[str, str]]:
    materials = "<br>".join(
        f"{i}. {e(m.name)}（{e(m.form.value)}，{m.copies}份）" + (f"：{e(m.notes)}" if m.notes else "")
        for i, m in enumerate(item.materials, start=1)) or "无"
    steps = "<br>".join(f"{i}. {e(s.name)}" + (f"：{e(s.detail)}" if s.detail else "")
                        for i, s in enumerate(item.steps, start=1)) or "无"
    fee = e(item.fee) + (f"（依据：{e(item.fee_basis)}）" if item.fee_basis else "")
    return [
        ("基本信息", f"事项类型：{e(item.item_type.value)}<br>办理机构：{e(item.agency)}<br>"
                     f"基本编码：{e(item.basic_code)}<br>实施编码：{e(item.implementation_code)}"),
        ("到现场次数", f"{e(item.trips_label)}"),
        ("办理时限", f"法定时限：{e(item.statutory_label)}<br>承诺时限：{e(item.promised_label)}"),
        ("受理条件", e(item.conditions)),
        ("申请材料", materials),
        ("办理流程", steps),
        ("收费", fee),
        ("设定依据", e(item.legal_basis)),
        ("办理地点和时间", f"{e(item.place)}<br>{e(item.hours)}"),
        ("咨询和投诉电话", f"咨询：{e(item.consult_phone)}<br>监督投诉：{e(item.complaint_phone)}"),
        ("网上办理", e(item.online_url) if item.online_url else "暂不支持网上办理"),
    ]


async def item_page(request: web.Request, token: str) -> web.Response:
    snap = await request.app[CATALOG].snapshot()
    item = snap.get(request.match_info["code"])
    if item is None:
        return _html(_page("未找到事项", '<div class="msg">没有找到这个事项。</div>', token,
                           back=_url("/tv/themes", token)), 404)
    sections = "".join(f'<div class="f section" id="sec-{i}"><b>{e(title)}</b><br>{content}</div>'
                       for i, (title, content) in enumerate(_detail_sections(item)))
    back = request.headers.get("Referer") or _url("/tv/themes", token)
    if not back.startswith(("/", f"{request.scheme}://{request.host}/")):
        back = _url("/tv/themes", token)
    return _html(_page(item.name, f'<div class="scroll" id="detail">{sections}</div>', token, back=back,
                       hint="上下键逐项查看 · 返回键返回"))


_PAD = [("1", ""), ("2", "ABC"), ("3", "DEF"), ("4", "GHI"), ("5", "JKL"), ("6", "MNO"), ("7", "PQRS"),
        ("8", "TUV"), ("9", "WXYZ"), ("del", "删除"), ("0", ""), ("clr", "清空")]


def _pad() -> str:
    keys = []
    for key, letters in _PAD:
        label = key if key.isdigit() else letters
        small = f'<span class="l">{e(letters)}</span>' if key.isdigit() else ""
        keys.append(f'<div class="f key" id="key-{key}" data-act="pad" data-key="{key}">{e(label)}{small}</div>')
    return '<div class="pad">' + "".join(keys) + "</div>"


_SEARCH_JS = """
var typed = '', seq = 0;
function show() { TV.text('typed', typed || '请输入事项名称拼音首字母对应的数字'); }
/* data-results says which answer the list shows ("<typed>:<total>", "<typed>:error"): set for every answer, so a
   page (or a test) waiting for one is never satisfied by the list of an earlier key press. */
function shown(what) { document.body.setAttribute('data-results', typed + ':' + what); }
function search() {
  var mine = ++seq;
  if (!typed) { document.getElementById('results').innerHTML = ''; shown(0); return; }
  TV.xhr('GET', '/stb/v1/guides/search?mode=digits&page_size=6&q=' + typed, null, function (status, data) {
    if (mine !== seq) { return; } /* an answer to an earlier key press */
    var box = document.getElementById('results'), html = '', i, item, token = document.body.getAttribute('data-token');
    if (status !== 200 || !data) { box.innerHTML = '<div class="msg">查询失败，请稍后再试</div>'; shown('error'); return; }
    if (!data.items.length) { box.innerHTML = '<div class="msg">没有找到相关事项</div>'; shown(0); return; }
    for (i = 0; i < data.items.length; i++) {
      item = data.items[i];
      html += '<a class="f row" id="r' + (i + 1) + '" href="/tv/item/' + encodeURIComponent(item.code) +
        '?token=' + encodeURIComponent(token) + '">' + TV.esc(item.name) + '<span class="meta">' +
        TV.esc(item.trips_label) + '</span></a>';
    }
    box.innerHTML = html;
    shown(data.total);
  });
}
function press(key) {
  if (key === 'del') { typed = typed.substring(0, typed.length - 1); }
  else if (key === 'clr') { typed = ''; }
  else if (typed.length < 20) { typed += key; }
  show(); search();
}
TV.actions.pad = function (el) { press(el.getAttribute('data-key')); };
TV.onDigit = function (d) { press(String(d)); };
show();
"""


async def search_page(request: web.Request, token: str) -> web.Response:
    body = (f'<div class="field" id="typed"></div>{_pad()}<div class="results" id="results"></div>'
            '<div class="clear"></div>')
    return _html(_page("查找事项 · 数字键输入拼音首字母", body, token, back=_url("/tv/", token), script=_SEARCH_JS,
                       first="key-2", hint="数字键输入 · 例：户口迁移 hkqy → 4579 · 右键选择结果"))


_FIELD_JS = """
var fields = {}, active = null;
function fieldOf(el) { return el && el.getAttribute('data-field') ? el.getAttribute('data-field') : null; }
function render(name) {
  var f = fields[name];
  TV.text('v-' + name, f.value || f.placeholder);
}
function typeDigit(d) {
  var name = fieldOf(TV.current());
  if (!name) { return; }
  var f = fields[name];
  if (f.value.length < f.max) { f.value += String(d); render(name); }
}
function backspace() {
  var name = fieldOf(TV.current());
  if (name && fields[name].value) { fields[name].value = fields[name].value.slice(0, -1); render(name); return true; }
  return false;
}
function field(name, max, placeholder) { fields[name] = { value: '', max: max, placeholder: placeholder }; render(name); }
TV.onDigit = typeDigit;
TV.onKey = function (name) {
  if (name === 'left' && fieldOf(TV.current())) { return backspace(); }
  return false;
};
TV.actions.del = function () { backspace(); };
var ERRORS = {
  wrong_code: function (d) { return '提取码错误，还可尝试 ' + d.error.attempts_left + ' 次'; },
  locked: function (d) { return '错误次数过多，查询已锁定，请稍后再试'; },
  not_found: function () { return '没有找到这个工单，请核对流水号'; },
  invalid_ticket_number: function () { return '流水号有误，请核对12位流水号'; },
  invalid_code: function () { return '请输入6位提取码'; },
  invalid_phone: function () { return '电话号码格式不正确，请输入手机号或带区号的固定电话'; },
  invalid_field: function () { return '请完整选择后再提交'; },
  rate_limited: function () { return '操作太频繁，请稍后再试'; },
  token_expired: function () { return '登录已失效，请从机顶盒菜单重新进入'; }
};
function errorText(data) {
  var code = data && data.error ? data.error.code : '';
  return ERRORS[code] ? ERRORS[code](data) : '暂时无法办理，请稍后再试或拨打96536';
}
"""

_PROGRESS_JS = _FIELD_JS + """
field('number', 12, '请输入12位流水号');
field('code', 6, '请输入6位提取码');
TV.actions.query = function () {
  TV.text('message', '正在查询…');
  TV.xhr('POST', '/stb/v1/progress', { number: fields.number.value, code: fields.code.value }, function (status, d) {
    var html = '', i, ev;
    if (status !== 200) { TV.text('message', errorText(d)); document.body.setAttribute('data-result', 'error'); return; }
    TV.text('message', '');
    html += '<div class="f section" id="p-status"><b>办理状态：' + TV.esc(d.status_label) + '</b><br>' +
      '类型：' + TV.esc(d.kind_label) + '　承办单位：' + TV.esc(d.department || '待派单') + '<br>' +
      '办理期限：' + TV.esc(d.deadline) + (d.reply ? '<br>答复：' + TV.esc(d.reply) : '') + '</div>';
    for (i = 0; i < d.timeline.length; i++) {
      ev = d.timeline[i];
      html += '<div class="f section" id="p-ev' + i + '">' + TV.esc(ev.at.substring(0, 16).replace('T', ' ')) +
        '　' + TV.esc(ev.status_label || ev.action) + (ev.note ? '　' + TV.esc(ev.note) : '') + '</div>';
    }
    document.getElementById('result').innerHTML = html;
    document.body.setAttribute('data-result', d.status);
    TV.focus(document.getElementById('p-status'));
  });
};
"""


async def progress_page(request: web.Request, token: str) -> web.Response:
    body = ('<div class="f field" id="f-number" data-field="number"><span class="label">流水号</span>'
            '<span id="v-number"></span></div>'
            '<div class="f field" id="f-code" data-field="code"><span class="label">提取码</span>'
            '<span id="v-code"></span></div>'
            '<div class="tiles"><div class="f opt" id="btn-query" data-act="query">查询进度</div>'
            '<div class="f opt" id="btn-del" data-act="del">退格</div></div>'
            '<div class="msg" id="message"></div><div class="scroll" id="result" style="height:260px"></div>')
    return _html(_page("工单进度查询", body, token, back=_url("/tv/", token), script=_PROGRESS_JS, first="f-number",
                       hint="数字键输入 · 左键退格 · 下键切换 · 确定键查询"))


_REQUEST_JS = _FIELD_JS + """
var chosen = {};
field('phone', 12, '需要回电时请输入手机号或固定电话');
TV.actions.pick = function (el) {
  var group = el.getAttribute('data-group'), opts = TV.byClass('g-' + group), i;
  for (i = 0; i < opts.length; i++) { TV.removeClass(opts[i], 'on'); }
  TV.addClass(el, 'on');
  chosen[group] = el.getAttribute('data-value');
  if (group === 'template') { chosen.kind = el.getAttribute('data-kind'); chosen.category = el.getAttribute('data-category'); }
};
function done(status, d) {
  if (status !== 201) { TV.text('message', errorText(d)); document.body.setAttribute('data-result', 'error'); return; }
  document.getElementById('message').innerHTML = '已受理！流水号 <span class="big" id="r-number">' + TV.esc(d.number) +
    '</span> 提取码 <span class="big" id="r-code">' + TV.esc(d.extraction_code) + '</span><br>请记下以便查询进度，办理期限 ' +
    TV.esc(d.deadline);
  document.body.setAttribute('data-result', d.number);
}
TV.actions.submit = function () {
  if (!chosen.template) { TV.text('message', '请先选择要反映的内容'); return; }
  TV.text('message', '正在提交…');
  var body = { kind: chosen.kind, category: chosen.category, template_id: chosen.template };
  if (chosen.town) { body.town_code = chosen.town; }
  TV.xhr('POST', '/stb/v1/requests', body, done);
};
TV.actions.callback = function () {
  TV.text('message', '正在提交…');
  var body = { phone: fields.phone.value };
  if (chosen.town) { body.town_code = chosen.town; }
  TV.xhr('POST', '/stb/v1/callbacks', body, done);
};
"""


async def request_page(request: web.Request, token: str) -> web.Response:
    kinds = {k.value: k.label_zh for k in KINDS}
    options = "".join(
        f'<div class="f row g-template" id="t-{e(t.id)}" data-act="pick" data-group="template" data-value="{e(t.id)}" '
        f'data-kind="{e(t.kind.value)}" data-category="{e(t.category)}">[{e(kinds[t.kind.value])}] {e(t.text)}</div>'
        for t in TEMPLATES)
    towns = request.app[TOWNS]
    town_opts = "".join(
        f'<div class="f opt g-town" id="town-{e(code)}" data-act="pick" data-group="town" data-value="{e(code)}">'
        f'{e(name)}</div>' for code, name in towns.items())
    body = (f'<div class="scroll" id="form" style="height:440px"><div class="group">{options}</div>'
            + (f'<h2>所在镇（街道）</h2><div class="group">{town_opts}</div>' if town_opts else "")
            + '<div class="group"><div class="f opt" id="btn-submit" data-act="submit">提交反映</div></div>'
            '<h2>申请回电</h2><div class="f field" id="f-phone" data-field="phone"><span class="label">电话</span>'
            '<span id="v-phone"></span></div>'
            '<div class="group"><div class="f opt" id="btn-callback" data-act="callback">申请回电</div></div></div>'
            '<div class="msg" id="message"></div>')
    return _html(_page("我要反映 · 咨询 求助 建议 投诉", body, token, back=_url("/tv/", token), script=_REQUEST_JS,
                       first="t-c1", hint="确定键选择内容 · 再选“提交反映”；或输入电话申请回电"))


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    files = request.app[_STATIC_KEY]
    if name not in files:
        raise web.HTTPNotFound()
    return web.Response(body=files[name], content_type=_STATIC_TYPES[name], charset="utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})


def add_routes(app: web.Application) -> None:
    app[_STATIC_KEY] = {name: (STATIC / name).read_bytes() for name in _STATIC_TYPES}
    r = app.router
    r.add_get("/tv/", page_handler(home))
    r.add_get("/tv/themes", page_handler(themes))
    r.add_get("/tv/list", page_handler(guide_list))
    r.add_get("/tv/item/{code:[0-9A-Za-z]{1,60}}", page_handler(item_page))
    r.add_get("/tv/search", page_handler(search_page))
    r.add_get("/tv/progress", page_handler(progress_page))
    r.add_get("/tv/request", page_handler(request_page))
    r.add_get("/tv/static/{name}", static_file)
