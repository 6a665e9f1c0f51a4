insert into staging.answers (record_id, item_code, answer_code, answer_text)
select record_id, item_code, answer_code, answer_text
from valid_answers
