-- reads: valid_answers (staging/valid_answers)
-- writes: staging.answers
insert into staging.answers (record_id, item_code, answer_code, answer_text)
select record_id, item_code, answer_code, answer_text
from valid_answers
