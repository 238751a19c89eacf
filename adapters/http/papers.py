"""Printable documents of an order (receipt, shipping note, return slip, refund slip) as HTML."""
from __future__ import annotations

from flask import Response, render_template
from flask_smorest import Blueprint

from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.views import plain
from documents import orders

blp = Blueprint("papers", __name__, description="Printable order documents", template_folder="templates")
TITLES = {"receipt": "Receipt", "shipping_note": "Shipping note", "return_slip": "Return slip",
          "refund_slip": "Refund slip"}


@blp.route("/v1/orders/<order_id>/papers/<number>", methods=["GET"])
@blp.alt_response(200, schema={"type": "string"}, content_type="text/html", success=True,
                  description="The document, printable HTML")
def paper(order_id: str, number: str):
    auth.require_role(auth.Role.VIEWER)
    doc = orders.load(order_id)
    found = next((p for p in (doc or {}).get("papers", []) if p["number"] == number), None)
    if found is None:
        raise ApiError(404, "not_found", f"order {order_id!r} has no document {number!r}")
    order = plain({**doc, "order_id": doc["_id"]})
    fulfilment = next((f for f in order["fulfilments"] if f["id"] == found["ref"]), None)
    case = next((c for c in order.get("after_sales", []) if c["case_id"] == found["ref"]), None)
    lines, amounts, total = order["lines"], order["amounts"], "Total paid"
    if fulfilment:
        numbers = {l["line_no"]: l["quantity"] for l in fulfilment["lines"]}
        lines = [{**l, "quantity": numbers[l["line_no"]]} for l in lines if l["line_no"] in numbers]
        amounts = None
    if case:
        wanted = {n: q for n, q in case.get("lines", [])}
        lines = [{**l, "quantity": wanted[l["line_no"]]} for l in lines if l["line_no"] in wanted]
        amounts = {"goods": case["amount"], "discount": "0", "freight": "0", "payable": case["amount"]} \
            if found["kind"] == "refund_slip" else None
        total = "Refunded"
    html = render_template("paper.html", title=TITLES[found["kind"]], paper=plain(found), order=order,
                           fulfilment=fulfilment, case=case, lines=lines, amounts=amounts, total_label=total,
                           priced=found["kind"] in ("receipt", "refund_slip"))
    return Response(html, mimetype="text/html")
