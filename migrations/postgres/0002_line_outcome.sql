-- What the bot did with each customer message it handled (answered, clarified, not_understood,
-- handed_over), for `frontline report`. NULL on every other line, and on customer messages that
-- reached a person instead of the bot.
ALTER TABLE transcript_lines ADD COLUMN outcome TEXT;
CREATE INDEX transcript_lines_outcome ON transcript_lines (outcome, at) WHERE outcome IS NOT NULL;
