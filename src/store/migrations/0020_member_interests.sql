-- 0020: what a member says they know about (`set interests …` by mail, their
-- page, `praxis members set --interests`), one of the kinds of evidence
-- `praxis experts` weighs (issue 18). Free text, comma-separated by habit.
ALTER TABLE members ADD COLUMN interests TEXT NOT NULL DEFAULT '';
