# The records area's API error messages (records, filters and sorts, aggregates, merges,
# request bodies and parameters, search): `{"error": {"message"}}` and `details[].message`.

## Requests: bodies, parameters and headers

api-records-limit = limit 应为 1 到 { $max } 之间的整数
api-records-upsert-needs-key = upsert 需要提供 `key`，即用于匹配记录的字段
api-records-batch-item-needs-id = 每一项都需要提供要更新的记录的 `id`
api-records-instant-parameter = { $name } 应为日期、日期时间或相对日期（如 today-7d）
api-records-audit-format = format 应为 json 或 csv，而不是 `{ $format }`
api-records-id-parameter = { $name } 应为 ID
api-records-cursor-malformed = 游标格式错误
api-records-body-not-object = 请求体必须是 JSON 对象
# `detail` is the JSON parser's own (English) words.
api-records-body-shape = 请求体内容有误：{ $detail }
api-records-body-syntax = JSON 格式错误：{ $detail }
api-records-body-media-type = 请以 application/json 格式发送请求体
api-records-body-too-large = 请求体超过 { $max } 字节
api-records-body-empty = 请求体为空：请发送 JSON 文档
# `detail` is the web framework's own (English) words, as are the next two's.
api-records-body-unreadable = 无法读取请求体：{ $detail }
api-records-bad-query = 查询参数有误：{ $detail }
api-records-bad-path = 路径参数有误：{ $detail }
api-records-if-match = If-Match 应为记录版本号，例如 "3"

## Search

api-records-search-unknown-type = types 中的实体类型 `{ $name }` 不存在
api-records-search-query-required = 缺少 q：请填写要搜索的词语
api-records-search-query-too-long = 搜索词超过 { $max } 个字符

## Record values (`details[].message` of `validation_failed`)

api-records-not-a-user-id = 不是有效的用户 ID
api-records-expected-user-id = 应为用户 ID
api-records-system-key-read-only = 系统字段由服务器设置，不能修改
api-records-no-such-field = `{ $plural }` 没有这个字段
api-records-field-read-only = 你的角色无权修改此字段
api-records-value-required = 此项为必填
api-records-expected-whole-number = 应为整数
api-records-expected-number = 应为数字
api-records-expected-boolean = 应为 true 或 false
api-records-expected-date = 应为日期，例如 2026-11-22
api-records-json-too-large = 不能超过 { $max } 字节
api-records-expected-list = 应为列表
api-records-list-too-long = 最多 { $max } 项
api-records-expected-string-list = 应为字符串列表
api-records-invalid-tag = 标签长度应为 1 到 64 个字符
api-records-expected-string = 应为字符串
api-records-text-too-long = 最多 { $max } 个字符
api-records-control-characters = 不能包含控制字符
api-records-expected-option = 应为以下值之一：{ $options }
api-records-invalid-email = 应为电子邮件地址，例如 ada@example.com
api-records-invalid-phone = 应为电话号码，例如 +1 (555) 010-2030
api-records-invalid-url = 应为 http(s) 网址，例如 https://example.com
api-records-invalid-datetime = 应为 RFC 3339 格式的日期时间，例如 2026-11-22T14:30:00Z
api-records-invalid-money = 应为金额，格式如 { "{" }"amount": "1250.00", "currency": "EUR"{ "}" }
api-records-invalid-currency = 应为 ISO 4217 货币代码，例如 EUR
api-records-expected-record-id = 应为记录 ID

## Entity type and field definitions

api-records-invalid-name = `{ $name }` 不是有效的名称：请使用 1 到 48 个小写字母、数字或下划线，并以字母开头
api-records-system-key-name = `{ $name }` 是系统字段名
api-records-options-required = 选择字段必须设置选项
api-records-options-not-allowed = 只有 select 和 multi_select 字段可以设置选项
api-records-option-length = 选项值应为 1 到 100 个字符
api-records-option-twice = 选项 `{ $option }` 重复
api-records-unknown-target = 没有名为 `{ $target }` 的实体类型
api-records-target-not-allowed = 只有引用字段可以设置 target
api-records-multiple-not-allowed = 只有引用字段可以存放多个 ID
api-records-max-length-too-small = 不能小于 1
api-records-invalid-default = 默认值不是此字段的有效值：{ $message }
api-records-index-not-allowed = 列表和 json 字段不能建立索引
api-records-plural-same-as-name = 不能与 `name` 相同
api-records-name-taken = 该名称已被占用
api-records-plural-taken = 该复数名称已被占用
api-records-plural-reserved = 该复数名称为系统保留名称
api-records-field-declared-twice = 该字段重复声明
api-records-not-a-field-of-type = `{ $key }` 不是该类型的字段
api-records-too-many-indexes = 每个类型最多 { $max } 个索引
api-records-index-keys = 每个索引应包含 1 到 { $max } 个键
api-records-index-key-twice = `{ $key }` 重复列出
api-records-index-unknown-key = `{ $key }` 既不是该类型的字段，也不是 `owner`
api-records-index-unindexable = `{ $key }` 不能建立索引：它存放的是长文本、json 或列表
api-records-unknown-language = Kith 不支持语言 `{ $language }`，请使用 { $languages }
api-records-invalid-label = 显示名称应为 1 到 { $max } 个字符，且不能包含控制字符
api-records-label-twice = 该语言重复出现

## The record store: schema changes, references and permissions

api-records-forbidden-read-type = 你的角色无权查看 `{ $plural }`
api-records-field-exists = `{ $plural }` 已有字段 `{ $field }`
api-records-field-exists-conflict = 该字段已存在
api-records-type-exists-conflict = 该实体类型已存在
# Completed by api-records-claimed-type or api-records-claimed-field as `what`.
api-records-claimed = { $what } 属于插件 `{ $plugin }`（在启用该插件时声明；插件停用期间，其数据仍会保留）
api-records-claimed-type = 类型名 `{ $entity }`
api-records-claimed-field = `{ $entity }` 的字段 `{ $field }`
api-records-no-tags-field = `{ $plural }` 没有标签字段 `{ $field }`
api-records-forbidden-read-records = 你的角色无权查看这些记录
api-records-reference-not-found = 不存在 ID 为 { $id } 的有效记录
api-records-wrong-reference-type = { $id } 是 `{ $found }` 记录，不是 `{ $target }` 记录
api-records-user-not-found = 此工作区中没有 ID 为 { $id } 的用户

## Writes and batches

api-records-no-live-record = 不存在此 ID 的有效记录
api-records-at-version = 该记录当前版本为 { $current }
api-records-batch-empty = 批量请求中没有任何记录
api-records-batch-same-record-twice = 批量请求中对记录 { $id } 修改了两次
api-records-ambiguous-key = 有多条记录使用此值，请先合并这些记录
api-records-upsert-key-unusable = `{ $key }` 不是 `{ $plural }` 中可用于匹配记录的字段
api-records-upsert-key-required = upsert 匹配字段必须有值
api-records-upsert-key-repeated = 批量请求中另有一项的匹配值与此相同
api-records-forbidden-create-type = 你的角色无权创建 `{ $plural }`
api-records-forbidden-create-for-owner = 你的角色无权为该负责人创建记录
api-records-forbidden-change-by-key = 你的角色无权修改与此匹配值对应的记录
api-records-forbidden-change = 你的角色无权修改此记录（或将其转给该负责人）
api-records-forbidden-delete = 你的角色无权删除此记录
api-records-forbidden-restore = 你的角色无权恢复此记录
api-records-not-deleted = 该记录未被删除

## Duplicates, merges and aggregates

api-records-no-duplicate-key = `{ $plural }` 没有查重字段
api-records-unknown-field = `{ $plural }` 没有字段 `{ $field }`
api-records-merge-count = 每次可合并 1 到 { $max } 条记录
api-records-merge-ids = 被合并的 ID 不能重复，也不能与保留的记录相同
api-records-forbidden-change-survivor = 你的角色无权修改保留的记录
api-records-merge-not-found = 不存在 ID 为 { $id } 的有效 `{ $entity }` 记录
api-records-forbidden-merge-away = 你的角色无权合并掉记录 { $id }
api-records-group-money = 无法按 `{ $field }` 分组：请按单个值分组（金额字段请用 `field:currency`）
api-records-group-single-value = 无法按 `{ $field }` 分组：请按单个值分组（文本、选择、引用、用户、数字、布尔或日期字段）
api-records-group-reference-list = 无法按 `{ $field }` 分组：该字段存放的是引用列表
api-records-group-key = `{ $key }` 不是有效的分组键：请使用字段、`owner`、日期的 `field:month` 或 `field:year`，或金额的 `field:currency`
api-records-sum-kind = 无法对 `{ $field }` 求和：只有整数、数字和金额字段可以求和
api-records-too-many-groups = 分组超过 { $max } 个：请减少分组键或添加筛选条件
api-records-too-many-terms = 最多 { $max } 个分组键和 { $max } 个求和字段
api-records-mixed-currencies = `{ $field }` 在同一分组中含有多种货币：请同时按 `{ $field }:currency` 分组
api-records-cannot-add-up = 无法对 `{ $field }` 求和

## Filters (`filter=`) and sorts (`sort=`)

api-records-filter-too-long = 筛选条件超过 { $max } 字节
# A syntax error: `expected` is one of the api-records-filter-expected-* messages, `found`
# api-records-filter-found or api-records-filter-found-end.
api-records-filter-at = 位置 { $position }：{ $expected }，{ $found }
api-records-filter-found = 实际为 `{ $text }`
api-records-filter-found-end = 但已到末尾
api-records-filter-expected-end = 此处应为筛选条件结尾
api-records-filter-expected-name = 此处应为字段名或 and(…)、or(…)、not(…)
api-records-filter-expected-comma = 此处应为 `,` 或 `)`
api-records-filter-not-a-group = `{ $name }(` 不是 and(、or( 或 not(
api-records-filter-expected-operator = 字段名后应为 `[operator]`
api-records-filter-expected-bracket = 此处应为 `]`
api-records-filter-expected-value = 此处应为 `:value`
api-records-filter-expected-quote = 缺少右引号 `"`
api-records-filter-expected-escaped = `\` 后应有一个字符
api-records-filter-depth = 筛选条件最多嵌套 { $max } 层
api-records-filter-not-arity = not(…) 只能包含一个条件
api-records-filter-unknown-operator = 未知运算符 `{ $operator }`：请使用 eq、neq、lt、lte、gt、gte、in、contains、starts_with 或 is_empty
api-records-filter-too-many = 筛选条件最多包含 { $max } 个条件
api-records-filter-operator = 运算符 { $operator } 不适用于 `{ $field }`（{ $kind }）
api-records-filter-operator-system = 运算符 { $operator } 不适用于 `{ $field }`（系统字段）
api-records-filter-is-empty = is_empty 的值应为 true 或 false，而不是 `{ $value }`
api-records-not-a-record-id = `{ $id }` 不是有效的记录 ID
# `what` is one of the api-records-filter-want-* messages.
api-records-filter-expects = `{ $field }` 的值应为{ $what }，实际为 `{ $value }`
api-records-filter-want-integer = 整数
api-records-filter-want-instant = 日期、日期时间或相对日期（如 today-7d）
api-records-filter-want-boolean = 布尔值（true 或 false）
api-records-filter-want-number = 数字
api-records-filter-want-datetime = 日期时间或相对日期（如 now-7d）
api-records-filter-want-date = 日期或相对日期（如 today+7d）
api-records-sort-list = 不能按列表或 json 字段 `{ $field }` 排序
api-records-sort-twice = `{ $field }` 出现了两次
api-records-sort-id-descending = 按 id 排序只能升序
api-records-sort-too-many = 最多 { $max } 个排序键
