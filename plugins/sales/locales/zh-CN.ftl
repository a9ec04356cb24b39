# 销售插件的简体中文文案，与 en.ftl 的键一一对应。

## 销售管道与阶段

type-pipeline = 销售管道
type-pipeline-plural = 销售管道
field-pipeline-name = 名称
field-pipeline-is_default = 默认管道
field-pipeline-description = 说明

type-stage = 阶段
type-stage-plural = 阶段
field-stage-name = 名称
field-stage-pipeline = 销售管道
field-stage-position = 排序
field-stage-probability = 赢率
field-stage-outcome = 阶段结果
option-stage-outcome-open = 进行中
option-stage-outcome-won = 赢单
option-stage-outcome-lost = 输单

## 线索

type-lead = 线索
type-lead-plural = 线索
field-lead-first_name = 名
field-lead-last_name = 姓
field-lead-email = 电子邮箱
field-lead-phone = 电话
field-lead-company_name = 公司名称
field-lead-domain = 域名
field-lead-title = 职位
field-lead-source = 线索来源
option-lead-source-web = 官网
option-lead-source-referral = 客户推荐
option-lead-source-event = 市场活动
option-lead-source-outbound = 主动开发
option-lead-source-partner = 合作伙伴
option-lead-source-other = 其他
field-lead-status = 线索状态
option-lead-status-new = 新线索
option-lead-status-working = 跟进中
option-lead-status-qualified = 已确认
option-lead-status-disqualified = 无效
option-lead-status-converted = 已转化
field-lead-expected_amount = 预计金额
field-lead-notes = 备注
field-lead-converted_contact = 转化的联系人
field-lead-converted_company = 转化的公司
field-lead-converted_deal = 转化的商机
field-lead-converted_at = 转化时间

## 商机

type-deal = 商机
type-deal-plural = 商机
field-deal-name = 商机名称
field-deal-amount = 金额
field-deal-pipeline = 销售管道
field-deal-stage = 销售阶段
field-deal-status = 商机状态
option-deal-status-open = 进行中
option-deal-status-won = 赢单
option-deal-status-lost = 输单
field-deal-probability = 赢率
field-deal-expected_close = 预计成交日期
field-deal-close_date = 结单日期
field-deal-lost_reason = 输单原因
field-deal-company = 客户公司
field-deal-contact = 联系人
field-deal-lead = 来源线索
field-deal-stage_entered_at = 进入阶段时间
field-deal-stage_history = 阶段历史

## 面板与操作

panel-forecast = 销售预测
panel-company_deals = 商机
panel-contact_deals = 商机
panel-stage_history = 阶段历史
panel-conversion = 线索转化

action-convert = 转化线索
action-convert-description = 将线索转化为联系人及其公司（匹配已有公司或新建），并可同时创建商机。
action-convert-field-company = 公司（留空则根据线索新建）
action-convert-field-create_deal = 同时创建商机
action-convert-field-deal_name = 商机名称
action-convert-field-pipeline = 销售管道
action-convert-field-stage = 阶段（留空则为第一个阶段）
action-demo = 加载销售演示数据
action-demo-description = 添加“企业客户”销售管道及示例线索和商机，便于试用本插件（每个工作区仅一次）。

## 面板模板

message-forbidden = 你无权查看此面板的内容。
time-utc = { $time }（UTC）

forecast-month = { $year }年{ $month }月
forecast-weighted = 加权金额
forecast-won = 已赢单
forecast-target = 目标
forecast-note = 进行中的商机按预计成交日期统计，并按所处阶段的赢率加权；已赢单的商机按结单日期统计。目标币种：{ $currency }。

deals-currency = 币种
deals-open = 进行中
deals-won = 已赢单
deals-newest = 仅显示最新的 { $count } 个商机。
deals-none = 暂无商机。

duration-s = { $seconds }秒
duration-m = { $minutes }分钟
duration-hm = { $hours }小时{ $minutes }分钟
duration-dh = { $days }天{ $hours }小时
history-current = 当前阶段
history-for = 已停留 { $duration }
history-since = 自 { $time } 起
history-no-stage = 未设置阶段。
history-entered = 进入时间（UTC）
history-time-in-stage = 停留时长
history-none = 无
history-now = 当前
history-empty = 暂无阶段变更记录。

conversion-converted = 已转化
conversion-contact = 联系人
conversion-company = 公司
conversion-deal = 商机
conversion-deleted = 已删除
conversion-not-yet = 尚未转化。
