# The sales plugin's words in English, every reader's fallback. zh-CN.ftl has the same keys.
# Labels (read by the host wherever the web app shows them): type-<type>, type-<type>-plural,
# field-<type>-<field>, option-<type>-<field>-<value>, panel-<panel>, action-<action>,
# action-<action>-description, action-<action>-field-<field>. The rest are the templates'
# messages, read with t("key", name=value).

## Pipelines and their stages

type-pipeline = Pipeline
type-pipeline-plural = Pipelines
field-pipeline-name = Name
field-pipeline-is_default = Is default
field-pipeline-description = Description

type-stage = Stage
type-stage-plural = Stages
field-stage-name = Name
field-stage-pipeline = Pipeline
field-stage-position = Position
field-stage-probability = Probability
field-stage-outcome = Outcome
option-stage-outcome-open = Open
option-stage-outcome-won = Won
option-stage-outcome-lost = Lost

## Leads

type-lead = Lead
type-lead-plural = Leads
field-lead-first_name = First name
field-lead-last_name = Last name
field-lead-email = Email
field-lead-phone = Phone
field-lead-company_name = Company name
field-lead-domain = Domain
field-lead-title = Title
field-lead-source = Source
option-lead-source-web = Web
option-lead-source-referral = Referral
option-lead-source-event = Event
option-lead-source-outbound = Outbound
option-lead-source-partner = Partner
option-lead-source-other = Other
field-lead-status = Status
option-lead-status-new = New
option-lead-status-working = Working
option-lead-status-qualified = Qualified
option-lead-status-disqualified = Disqualified
option-lead-status-converted = Converted
field-lead-expected_amount = Expected amount
field-lead-notes = Notes
field-lead-converted_contact = Converted contact
field-lead-converted_company = Converted company
field-lead-converted_deal = Converted deal
field-lead-converted_at = Converted at

## Deals

type-deal = Deal
type-deal-plural = Deals
field-deal-name = Name
field-deal-amount = Amount
field-deal-pipeline = Pipeline
field-deal-stage = Stage
field-deal-status = Status
option-deal-status-open = Open
option-deal-status-won = Won
option-deal-status-lost = Lost
field-deal-probability = Probability
field-deal-expected_close = Expected close
field-deal-close_date = Close date
field-deal-lost_reason = Lost reason
field-deal-company = Company
field-deal-contact = Contact
field-deal-lead = Lead
field-deal-stage_entered_at = Stage entered at
field-deal-stage_history = Stage history

## Panels and actions

panel-forecast = Sales forecast
panel-company_deals = Deals
panel-contact_deals = Deals
panel-stage_history = Stage history
panel-conversion = Conversion

action-convert = Convert lead
action-convert-description = Turns a lead into a contact, its company (found or created) and optionally a deal.
action-convert-field-company = Company (empty: create one from the lead)
action-convert-field-create_deal = Create a deal
action-convert-field-deal_name = Deal name
action-convert-field-pipeline = Pipeline
action-convert-field-stage = Stage (empty: the first one)
action-demo = Load demo sales data
action-demo-description = Adds an Enterprise pipeline, leads and deals to try the plugin with (once per workspace).

## The panels' templates

message-forbidden = You may not see what this panel shows.
# A moment the plugin writes in UTC: 2026-11-27 10:00 UTC.
time-utc = { $time } UTC

# The forecast: a month's heading, its figures and what they mean.
forecast-month = { $month ->
        [1] Jan
        [2] Feb
        [3] Mar
        [4] Apr
        [5] May
        [6] Jun
        [7] Jul
        [8] Aug
        [9] Sep
        [10] Oct
        [11] Nov
       *[12] Dec
    } { $year }
forecast-weighted = Weighted
forecast-won = Won
forecast-target = Target
forecast-note = Open deals weighted by their stage's probability, by expected close; won deals by close date. Target in { $currency }.

# The deals of a company or contact.
deals-currency = Currency
deals-open = Open
deals-won = Won
deals-newest = Showing the { $count } newest deals.
deals-none = No deals yet.

# A deal's stage history: durations as 45s, 12m, 3h 20m, 5d 4h.
duration-s = { $seconds }s
duration-m = { $minutes }m
duration-hm = { $hours }h { $minutes }m
duration-dh = { $days }d { $hours }h
history-current = Now in
history-for = for { $duration }
history-since = since { $time }
history-no-stage = No stage.
history-entered = Entered (UTC)
history-time-in-stage = Time in stage
history-none = none
history-now = now
history-empty = No stage changes recorded yet.

# A lead's conversion.
conversion-converted = Converted
conversion-contact = Contact
conversion-company = Company
conversion-deal = Deal
conversion-deleted = deleted
conversion-not-yet = Not converted yet.
