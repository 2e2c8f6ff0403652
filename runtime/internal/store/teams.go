package store

import "context"

// Team is a group of members conversations can be routed to.
type Team struct {
	ID      int64
	Name    string
	Members []int64
}

// CreateTeam adds a team; a taken name gives ErrConflict.
func (s *Store) CreateTeam(ctx context.Context, q Querier, name string) (_ *Team, err error) {
	defer wrap(&err, "CreateTeam")
	t := &Team{Name: name}
	err = q.QueryRow(ctx, `INSERT INTO teams (name) VALUES ($1) RETURNING id`, name).Scan(&t.ID)
	if isUnique(err) {
		return nil, ErrConflict
	}
	return t, err
}

// Teams lists the teams with their members.
func (s *Store) Teams(ctx context.Context) (_ []*Team, err error) {
	defer wrap(&err, "Teams")
	rows, err := s.Pool.Query(ctx, `SELECT t.id, t.name, coalesce(array_agg(m.user_id ORDER BY m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{}')
		FROM teams t LEFT JOIN team_members m ON m.team_id = t.id GROUP BY t.id ORDER BY lower(t.name)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Team
	for rows.Next() {
		t := &Team{}
		if err := rows.Scan(&t.ID, &t.Name, &t.Members); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// AddTeamMember puts a user in a team (idempotent).
func (s *Store) AddTeamMember(ctx context.Context, q Querier, teamID, userID int64) (err error) {
	defer wrap(&err, "AddTeamMember(%d, %d)", teamID, userID)
	_, err = q.Exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, teamID, userID)
	if isForeignKey(err) {
		return ErrNotFound
	}
	return err
}

// RemoveTeamMember takes a user out of a team.
func (s *Store) RemoveTeamMember(ctx context.Context, q Querier, teamID, userID int64) (err error) {
	defer wrap(&err, "RemoveTeamMember(%d, %d)", teamID, userID)
	_, err = q.Exec(ctx, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID)
	return err
}
