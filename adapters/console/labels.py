"""Every word the console shows, in English and Chinese: status labels and interface text.

Status words are keyed by the enums of ``router/statuses.py`` (never re-spelled here); the
Chinese labels follow the usual wording of Chinese e-commerce back offices.
"""
from __future__ import annotations

from router.order_state import OrderCommand
from router.statuses import AfterSalesStatus as AS
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus as O
from router.statuses import PaymentMethod as PM
from router.statuses import PaymentStatus as P
from router.statuses import RoutingState as R
from router.statuses import ShipmentStatus as S
from router.statuses import ShippingMethod as SM

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"

STATUS_LABELS: dict[str, dict] = {
    "order": {O.PENDING_PAYMENT: ("Pending payment", "待付款"), O.AWAITING_SHIPMENT: ("Awaiting shipment", "待发货"),
              O.SHIPPED: ("Shipped", "已发货"), O.COMPLETED: ("Completed", "已完成"),
              O.CANCELLED: ("Cancelled", "已取消"), O.CLOSED: ("Closed", "交易关闭"),
              O.ON_HOLD: ("On hold", "待审核"), O.REJECTED: ("Rejected", "已拒单")},
    "payment": {P.UNPAID: ("Unpaid", "未付款"), P.PAID: ("Paid", "已付款"), P.FAILED: ("Payment failed", "付款失败"),
                P.PARTIALLY_REFUNDED: ("Partially refunded", "部分退款"), P.REFUNDED: ("Refunded", "已退款")},
    "shipment": {S.UNSHIPPED: ("Unshipped", "未发货"), S.PARTIALLY_SHIPPED: ("Partially shipped", "部分发货"),
                 S.SHIPPED: ("Shipped", "已发货"), S.DELIVERED: ("Delivered", "已签收")},
    "after_sales": {AS.NONE: ("None", "无售后"), AS.PENDING_REVIEW: ("Pending review", "售后待审核"),
                    AS.AWAITING_RETURN: ("Awaiting return", "待退货"), AS.AWAITING_REFUND: ("Awaiting refund", "待退款"),
                    AS.AWAITING_EXCHANGE_RETURN: ("Awaiting exchange return", "换货待退回"),
                    AS.EXCHANGE_SHIPPING: ("Exchange shipping", "换货发出中"), AS.SUCCEEDED: ("Succeeded", "售后成功"),
                    AS.REJECTED: ("Rejected", "售后已拒绝")},
    "fulfilment": {F.PLANNED: ("Planned", "已计划"), F.RESERVED: ("Stock reserved", "已占库存"),
                   F.DISPATCHED: ("Sent to warehouse", "已下发仓库"), F.ACCEPTED: ("Accepted", "仓库已接单"),
                   F.PICKED: ("Picked", "已拣货"), F.PACKED: ("Packed", "已打包"),
                   F.PARTIALLY_SHIPPED: ("Partly shipped", "部分发货"), F.SHIPPED: ("Shipped", "已发货"),
                   F.IN_TRANSIT: ("In transit", "运输中"), F.OUT_FOR_DELIVERY: ("Out for delivery", "派送中"),
                   F.DELIVERED: ("Delivered", "已签收"), F.EXCEPTION: ("Exception", "异常"),
                   F.CANCELLED: ("Cancelled", "已取消"), F.DISPATCH_FAILED: ("Dispatch failed", "下发失败")},
    "routing": {R.RECEIVED: ("Received", "已接收"), R.ROUTED: ("Routed", "已分仓"), R.BACKORDERED: ("Backordered", "缺货待补"),
                R.HELD: ("Held", "待审核"), R.REJECTED: ("Rejected", "已拒单")},
    "payment_method": {PM.ONLINE: ("Online", "在线支付"), PM.CASH_ON_DELIVERY: ("Cash on delivery", "货到付款"),
                       PM.TERMS: ("Terms", "账期")},
    "shipping_method": {SM.STANDARD: ("Standard", "标准"), SM.EXPRESS: ("Express", "加急")},
    "command": {OrderCommand.CANCEL: ("Cancel order", "取消订单"), OrderCommand.CHANGE_ADDRESS: ("Change address", "修改地址"),
                OrderCommand.CONFIRM_RECEIPT: ("Confirm receipt", "确认收货"),
                OrderCommand.APPROVE_HOLD: ("Approve", "审核通过"), OrderCommand.REJECT_HOLD: ("Reject", "审核拒绝"),
                OrderCommand.RESHIP: ("Reship from another warehouse", "换仓补发"),
                OrderCommand.RESOLVE_EXCEPTION: ("Mark resolved", "标记已处理"),
                "after_sales.refund_only": ("Refund", "申请退款"),
                "after_sales.refund": ("Refund", "申请退款"), "after_sales.return": ("Return", "申请退货"),
                "after_sales.return_refund": ("Return and refund", "退货退款"),
                "after_sales.exchange": ("Exchange", "申请换货")},
}
AFTER_SALES_TAB = ("After-sales", "售后中")

TEXT: dict[str, tuple[str, str]] = {
    "console": ("Operations console", "运营控制台"), "orders": ("Orders", "订单"), "stock": ("Stock", "库存"),
    "exceptions": ("Exceptions", "异常"), "reports": ("Reports", "报表"), "settings": ("Settings", "设置"),
    "login": ("Sign in", "登录"), "logout": ("Sign out", "退出"), "token": ("API token", "API 令牌"),
    "bad_token": ("That token is not valid.", "令牌无效。"),
    "no_tokens": ("No operator token is configured, so nobody can sign in. Set ROUTER_API_TOKENS="
                  "name:admin:<long random token> for the API and restart it ('orderrouter up' makes and "
                  "prints one).", "尚未配置操作员令牌，无法登录。请设置 ROUTER_API_TOKENS=name:admin:<长随机令牌> "
                  "并重启 API（'orderrouter up' 会生成并打印一个）。"), "all": ("All", "全部"),
    "channel": ("Channel", "渠道"), "merchant": ("Merchant", "商家"), "warehouse": ("Warehouse", "仓库"),
    "customer": ("Customer", "客户"), "sku": ("SKU", "SKU"), "from": ("From", "开始日期"), "to": ("To", "结束日期"),
    "min_amount": ("Min amount", "最低金额"), "max_amount": ("Max amount", "最高金额"), "filter": ("Filter", "筛选"),
    "reset": ("Reset", "重置"), "search": ("Order number or channel order id", "订单号或渠道订单号"),
    "order": ("Order", "订单"), "channel_order": ("Channel order", "渠道订单号"), "placed": ("Placed", "下单时间"),
    "status": ("Status", "状态"), "payment": ("Payment", "支付"), "shipment": ("Shipment", "发货"),
    "amount": ("Amount", "金额"), "next_page": ("Next page", "下一页"), "first_page": ("First page", "第一页"),
    "no_orders": ("No orders match.", "没有符合条件的订单。"),
    "counts_as_of": ("Tab counts are at most {ttl} s old; counted at", "标签计数最多延迟 {ttl} 秒，统计于"), "selected": ("With selected", "批量操作"),
    "approve_held": ("Approve held", "审核通过"), "retry_failed": ("Retry failed dispatch", "重新下发"),
    "cancel": ("Cancel", "取消"), "export_csv": ("Export CSV", "导出 CSV"), "lines": ("Lines", "商品明细"),
    "quantity": ("Qty", "数量"), "unit_price": ("Unit price", "单价"), "discount": ("Discount", "优惠"),
    "amounts": ("Amounts", "金额"), "goods": ("Goods", "商品金额"), "freight": ("Freight", "运费"),
    "payable": ("Payable", "应付金额"), "fulfilments": ("Fulfilments", "发货单"), "carrier": ("Carrier", "承运商"),
    "tracking": ("Tracking", "物流轨迹"), "tracking_number": ("Tracking number", "运单号"),
    "routing": ("Routing decision", "分仓决策"), "why": ("Why this warehouse", "为何选择此仓库"),
    "after_sales": ("After-sales", "售后"), "documents": ("Documents", "单据"), "timeline": ("Timeline", "操作记录"),
    "actions": ("Actions", "操作"), "retry_dispatch": ("Retry dispatch", "重新下发"), "reason": ("Reason", "原因"),
    "confirm": ("Are you sure?", "确定吗？"), "on_hand": ("On hand", "在库"), "reserved": ("Reserved", "已占用"),
    "available": ("Available", "可用"), "threshold": ("Low-stock threshold", "预警阈值"), "low": ("Low stock", "库存不足"),
    "only_low": ("Only low stock", "仅显示库存不足"), "adjust": ("Adjust stock", "库存调整"),
    "inbound": ("Inbound", "入库"), "outbound": ("Outbound", "出库"), "stocktake": ("Stocktake", "盘点"),
    "kind": ("Kind", "类型"), "apply": ("Apply", "提交"), "alerts": ("Low-stock alerts", "库存预警"),
    "raised": ("Raised", "触发时间"), "webhook": ("Webhook", "通知"), "dead_letters": ("Dead letters", "死信"),
    "replay": ("Replay", "重放"), "replay_all": ("Replay all", "全部重放"), "failed_dispatch": ("Failed dispatches", "下发失败"),
    "stalled": ("Stalled fulfilments", "停滞的发货单"), "held": ("Held orders", "待审核订单"),
    "flagged": ("Flagged orders", "异常订单"), "flag_kind": ("Exception", "异常类型"),
    "flag_at": ("Flagged at", "标记时间"),
    "approve": ("Approve", "审核通过"), "reject": ("Reject", "审核拒绝"), "error": ("Error", "错误"),
    "actor": ("Actor", "执行者"), "failed_at": ("Failed at", "失败时间"), "since": ("Since", "自"),
    "nothing": ("Nothing here.", "暂无。"), "currency": ("Currency", "币种"), "show": ("Show", "查询"),
    "orders_per_day": ("Orders per day", "每日订单"), "revenue_per_day": ("Revenue per day", "每日营业额"),
    "orders_per_month": ("Orders per month", "每月订单"), "revenue_per_month": ("Revenue per month", "每月营业额"),
    "by_channel": ("By channel", "按渠道"), "by_region": ("By region", "按地区"), "best_sellers": ("Best sellers", "畅销商品"),
    "slow_sellers": ("Slow sellers", "滞销商品"), "pay_to_ship": ("Payment to shipment", "付款到发货"),
    "average_hours": ("Average hours", "平均小时"), "units": ("Units", "件数"), "revenue": ("Revenue", "营业额"),
    "download": ("Download CSV", "下载 CSV"), "timeouts": ("Timeouts", "超时设置"), "overrides": ("Overrides", "覆盖配置"),
    "routing_rules": ("Routing rules", "分仓规则"), "save": ("Save", "保存"), "endpoints": ("Endpoints", "对接地址"),
    "saved": ("Saved.", "已保存。"), "admin_only": ("Only an admin may change this.", "仅管理员可修改。"),
    "done": ("Done", "完成"), "refused": ("Refused", "被拒绝"), "address": ("Shipping address", "收货地址"),
    "change_address": ("Change address", "修改地址"), "role": ("Role", "角色"), "ledger": ("Adjustments", "调整记录"),
    "csrf": ("The form expired; try again.", "表单已过期，请重试。"), "not_found": ("Not found.", "未找到。"),
    "none_selected": ("Select some orders first.", "请先选择订单。"), "explanation": ("Explanation", "决策明细"),
    "sessions": ("Sessions", "会话"), "operator": ("Operator", "操作员"), "started": ("Signed in", "登录时间"),
    "last_seen": ("Last used", "最近使用"), "expires": ("Ends", "过期时间"), "revoke": ("Revoke", "注销"),
    "this_session": ("this session", "当前会话"),
}


def status_label(kind: str, value, lang: str) -> str:
    """The label of a status word (``kind``: order, payment, shipment, after_sales, fulfilment,
    routing, payment_method, shipping_method, command); the word itself when it has none."""
    pair = STATUS_LABELS.get(kind, {}).get(value)
    if pair is None:
        return str(value) if value is not None else ""
    return pair[1] if lang == "zh" else pair[0]


def text(key: str, lang: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "zh" else pair[0]

# The customer's page (adapters/customer/page.py): the customer's own orders, in their language.
TEXT.update({
    "customer.title": ("My orders", "我的订单"), "customer.order": ("Order", "订单"),
    "customer.placed": ("Placed", "下单时间"), "customer.status": ("Status", "订单状态"),
    "customer.total": ("Total", "实付金额"), "customer.none": ("You have no orders yet.", "您还没有订单。"),
    "customer.more": ("Older orders", "更早的订单"), "customer.back": ("All my orders", "全部订单"),
    "customer.lines": ("Items", "商品"), "customer.qty": ("Qty", "数量"), "customer.price": ("Price", "单价"),
    "customer.goods": ("Goods", "商品金额"), "customer.discount": ("Discount", "优惠"),
    "customer.freight": ("Shipping", "运费"), "customer.tax": ("Tax", "税费"), "customer.payable": ("Total", "实付金额"),
    "customer.address": ("Shipping address", "收货地址"), "customer.parcels": ("Parcels", "包裹"),
    "customer.tracking_number": ("Tracking number", "运单号"), "customer.carrier": ("Carrier", "快递公司"),
    "customer.no_parcels": ("Not shipped yet.", "尚未发货。"), "customer.after_sales": ("After-sales", "售后"),
    "customer.documents": ("Documents", "单据"), "customer.actions": ("What you can do", "可进行的操作"),
    "customer.no_actions": ("Nothing to do on this order now.", "该订单当前无可进行的操作。"),
    "customer.cancel": ("Cancel this order", "取消订单"), "customer.confirm_receipt": ("I received it", "确认收货"),
    "customer.change_address": ("Ship to this address instead", "修改收货地址"),
    "customer.open_case": ("Ask for after-sales", "申请售后"), "customer.case_type": ("What you want", "售后类型"),
    "customer.reason": ("Reason", "原因"), "customer.amount": ("Refund amount", "退款金额"),
    "customer.name": ("Name", "收货人"), "customer.phone": ("Phone", "电话"), "customer.country": ("Country", "国家"),
    "customer.region": ("Province / state", "省份"), "customer.city": ("City", "城市"),
    "customer.district": ("District", "区县"), "customer.postcode": ("Postcode", "邮编"),
    "customer.street": ("Street", "详细地址"), "customer.done": ("Done.", "操作成功。"),
    "customer.refused": ("This order can no longer be changed that way.", "订单当前状态不允许此操作。"),
    "customer.invalid": ("Some fields are not valid; please check them.", "部分信息有误，请检查。"),
    "customer.busy": ("Too many requests; try again in a moment.", "操作过于频繁，请稍后再试。"),
    "customer.sign_in": ("Open the link your shop sent you to see your orders.", "请打开商家发给您的链接查看订单。"),
    "customer.expired": ("This link has expired: ask the shop for a new one.", "链接已过期，请向商家索取新链接。"),
    "customer.bad_link": ("This link is not valid.", "链接无效。"),
    "customer.not_found": ("No such order.", "未找到该订单。"), "customer.sign_out": ("Sign out", "退出"),
    "customer.form_expired": ("The form expired; try again.", "表单已过期，请重试。"),
    "customer.unavailable": ("The service is busy; try again shortly.", "服务繁忙，请稍后再试。"),
})

# The order entry form (adapters/console/intake.py).
TEXT.update({
    "order_new.title": ("New order", "录入订单"), "order_new.customer": ("Customer", "客户"),
    "order_new.address": ("Address", "收货地址"), "order_new.lines": ("Lines", "商品"), "order_new.sku": ("SKU", "SKU"),
    "order_new.quantity": ("Quantity", "数量"),
    "order_new.unit_price": ("Unit price (blank: list price)", "单价（留空：标价）"),
    "order_new.line_discount": ("Line discount", "行折扣"), "order_new.discount": ("Order discount", "整单折扣"),
    "order_new.discount_code": ("Discount code", "折扣码"), "order_new.payment": ("Payment", "支付"),
    "order_new.payment_method": ("Method", "方式"), "order_new.paid": ("Paid already", "已付款"),
    "order_new.currency": ("Currency", "币种"), "order_new.shipping_method": ("Shipping", "配送方式"),
    "order_new.notes": ("Notes", "备注"), "order_new.submit": ("Enter order", "提交订单"),
    "order_new.search": ("Find SKU", "搜索 SKU"), "order_new.price": ("Price", "价格"),
    "order_new.available": ("Available", "可用库存"), "order_new.name": ("Name", "名称"),
    "order_new.phone": ("Phone", "电话"), "order_new.email": ("Email", "邮箱"), "order_new.id": ("Customer id", "客户编号"),
    "order_new.country": ("Country", "国家"), "order_new.region": ("Region", "省/州"), "order_new.city": ("City", "城市"),
    "order_new.district": ("District", "区县"), "order_new.postcode": ("Postcode", "邮编"),
    "order_new.street": ("Street", "街道地址"), "order_new.refused": ("The API refused the order", "订单未通过校验"),
    "order_new.merchant": ("Merchant", "商家"), "order_new.use": ("Use", "选用"),
})

# The risk rules page (adapters/console/intake.py); ``risk.<list>`` for each of router.risk.BLACKLIST_KINDS.
TEXT.update({
    "risk.title": ("Risk rules", "风控规则"), "risk.nav": ("Risk", "风控规则"), "risk.blacklist": ("Blacklists", "黑名单"),
    "risk.customers": ("Customers", "客户"), "risk.phones": ("Phones", "电话"), "risk.addresses": ("Addresses", "地址"),
    "risk.value": ("Value", "值"), "risk.reason": ("Reason", "原因"), "risk.added_by": ("Added by", "添加人"),
    "risk.added_at": ("Added at", "添加时间"), "risk.velocity": ("Order velocity", "下单频率"),
    "risk.thresholds": ("Abnormal-order thresholds per merchant", "商家异常订单阈值"), "risk.version": ("Version", "版本"),
    "risk.add": ("Add to blacklist", "加入黑名单"), "risk.kind": ("List", "名单"),
    "risk.rules_json": ("All rules (JSON)", "全部规则（JSON）"), "risk.builtin": ("built-in: nothing configured", "内置：未配置"),
    "risk.window": ("Window (minutes)", "时间窗（分钟）"), "risk.max_orders": ("At most orders", "最多订单数"),
    "risk.key": ("Per", "维度"), "risk.remove": ("Remove", "移除"),
    "risk.merchant": ("Merchant", "商家"), "risk.postcode": ("Postcode", "邮编"),
    # what a velocity limit counts per (router.risk.VELOCITY_KEYS)
    "risk.per.customer": ("Customer", "客户"), "risk.per.phone": ("Phone", "电话"), "risk.per.address": ("Address", "地址"),
})

# The outbound webhooks page (adapters/console/webhooks.py).
TEXT.update({
    "webhooks.title": ("Webhooks", "Webhook 推送"), "webhooks.subscriptions": ("Subscriptions", "订阅"),
    "webhooks.deliveries": ("Delivery log", "推送记录"), "webhooks.url": ("URL", "地址"), "webhooks.topics": ("Topics", "事件"),
    "webhooks.subscribe": ("Subscribe", "添加订阅"), "webhooks.remove": ("Remove", "删除"),
    "webhooks.replay": ("Replay", "重新推送"),
    "webhooks.secret_once": ("Signing secret (shown this once):", "签名密钥（仅显示一次）："),
    "webhooks.status": ("Status", "状态"), "webhooks.attempts": ("Attempts", "尝试次数"),
    "webhooks.error": ("Last error", "最近错误"), "webhooks.filter": ("Filter", "筛选"),
    "webhooks.none": ("Nothing here.", "暂无记录。"),
})
