# Labels of the built-in types, their fields and their choices:
# `type-<type>`, `type-<type>-plural`, `field-<type>-<field>`, `option-<type>-<field>-<value>`.

type-company = 公司
type-company-plural = 公司
field-company-name = 名称
field-company-domain = 域名
field-company-industry = 行业
field-company-employees = 员工人数
field-company-annual_revenue = 年收入
field-company-phone = 电话
field-company-website = 网站
field-company-address = 地址
option-company-industry-technology = 科技
option-company-industry-finance = 金融
option-company-industry-healthcare = 医疗
option-company-industry-manufacturing = 制造
option-company-industry-retail = 零售
option-company-industry-education = 教育
option-company-industry-energy = 能源
option-company-industry-media = 传媒
option-company-industry-logistics = 物流
option-company-industry-real_estate = 房地产
option-company-industry-hospitality = 酒店餐饮
option-company-industry-consulting = 咨询
option-company-industry-other = 其他

type-contact = 联系人
type-contact-plural = 联系人
field-contact-first_name = 名
field-contact-last_name = 姓
field-contact-email = 电子邮箱
field-contact-phone = 电话
field-contact-title = 职位
field-contact-company = 公司
field-contact-tags = 标签

type-activity = 活动
type-activity-plural = 活动
field-activity-kind = 类别
field-activity-subject = 主题
field-activity-body = 内容
field-activity-due_at = 截止时间
field-activity-done = 已完成
field-activity-links = 关联
field-activity-direction = 方向
field-activity-email_from = 发件人
field-activity-email_to = 收件人
field-activity-message_id = 邮件 ID
field-activity-thread_id = 会话 ID
option-activity-kind-note = 备注
option-activity-kind-task = 任务
option-activity-kind-call = 电话
option-activity-kind-meeting = 会议
option-activity-kind-email = 邮件
option-activity-direction-in = 收到
option-activity-direction-out = 发出
