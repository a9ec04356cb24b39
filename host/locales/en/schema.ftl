# Labels of the built-in types, their fields and their choices:
# `type-<type>`, `type-<type>-plural`, `field-<type>-<field>`, `option-<type>-<field>-<value>`.

type-company = Company
type-company-plural = Companies
field-company-name = Name
field-company-domain = Domain
field-company-industry = Industry
field-company-employees = Employees
field-company-annual_revenue = Annual revenue
field-company-phone = Phone
field-company-website = Website
field-company-address = Address
option-company-industry-technology = Technology
option-company-industry-finance = Finance
option-company-industry-healthcare = Healthcare
option-company-industry-manufacturing = Manufacturing
option-company-industry-retail = Retail
option-company-industry-education = Education
option-company-industry-energy = Energy
option-company-industry-media = Media
option-company-industry-logistics = Logistics
option-company-industry-real_estate = Real estate
option-company-industry-hospitality = Hospitality
option-company-industry-consulting = Consulting
option-company-industry-other = Other

type-contact = Contact
type-contact-plural = Contacts
field-contact-first_name = First name
field-contact-last_name = Last name
field-contact-email = Email
field-contact-phone = Phone
field-contact-title = Title
field-contact-company = Company
field-contact-tags = Tags

type-activity = Activity
type-activity-plural = Activities
field-activity-kind = Kind
field-activity-subject = Subject
field-activity-body = Body
field-activity-due_at = Due at
field-activity-done = Done
field-activity-links = Links
field-activity-direction = Direction
field-activity-email_from = Email from
field-activity-email_to = Email to
field-activity-message_id = Message id
field-activity-thread_id = Thread id
option-activity-kind-note = Note
option-activity-kind-task = Task
option-activity-kind-call = Call
option-activity-kind-meeting = Meeting
option-activity-kind-email = Email
option-activity-direction-in = In
option-activity-direction-out = Out
